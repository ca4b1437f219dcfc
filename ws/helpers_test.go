package ws

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
	"mqttgate/login"
)

// testLogger logs to the test output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
)

// newLogin returns a login service with user alice (role admin).
func newLogin(t testing.TB, cfg login.Config) *login.Service {
	t.Helper()
	users, err := login.OpenUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Add(testUser, "admin", testPassword, login.MinIterations); err != nil {
		t.Fatal(err)
	}
	cfg.Iterations = login.MinIterations
	svc, err := login.New(cfg, users, []byte("0123456789abcdef0123456789abcdef"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// testConfig is a plain-HTTP loopback config.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.TLS = TLSOff
	cfg.DataDir = t.TempDir()
	return cfg
}

// startServer runs a Server until the test ends and checks Run returns nil.
func startServer(t testing.TB, cfg Config, deps Deps) *Server {
	t.Helper()
	if deps.Login == nil {
		deps.Login = newLogin(t, login.Config{})
	}
	s, err := New(cfg, testLogger(t), deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return 20 s after cancel")
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server not ready after 20 s")
	}
	return s
}

// baseURL is "http://ADDR" or "https://ADDR".
func baseURL(s *Server) string {
	if s.certs != nil {
		return "https://" + s.Addr().String()
	}
	return "http://" + s.Addr().String()
}

// wsURL is the /mqtt URL of s.
func wsURL(s *Server) string {
	if s.certs != nil {
		return "wss://" + s.Addr().String() + "/mqtt"
	}
	return "ws://" + s.Addr().String() + "/mqtt"
}

// pool trusts s's certificate.
func pool(s *Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

// httpClient talks to s, pinning its certificate.
func httpClient(s *Server) *http.Client {
	if s.certs == nil {
		return &http.Client{Timeout: 20 * time.Second}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(s), ServerName: "localhost"},
	}}
}

// dial opens /mqtt with subprotocol mqtt and extra headers.
func dial(t testing.TB, s *Server, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 20 * time.Second}
	if s.certs != nil {
		d.TLSClientConfig = &tls.Config{RootCAs: pool(s), ServerName: "localhost"}
	}
	return d.Dial(wsURL(s), h)
}

// packetSink is a ServeConn that parses MQTT frames (fixed header,
// remaining length, body) from the stream and delivers each whole packet.
type packetSink struct {
	packets chan []byte
	remote  chan net.Addr
	ended   chan error
}

func newPacketSink() *packetSink {
	return &packetSink{packets: make(chan []byte, 1024), remote: make(chan net.Addr, 16), ended: make(chan error, 16)}
}

func (p *packetSink) serve(c net.Conn) error {
	p.remote <- c.RemoteAddr()
	br := bufio.NewReader(c)
	for {
		pkt, err := gatetest.ReadFrame(br)
		if err != nil {
			p.ended <- err
			return err
		}
		p.packets <- pkt
	}
}

func recvPacket(t testing.TB, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("no packet within 20 s")
		return nil
	}
}

func mustWrite(t testing.TB, f string, b []byte) {
	t.Helper()
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func loginCfg() login.Config { return login.Config{} }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func dialer() websocket.Dialer { return websocket.Dialer{HandshakeTimeout: 20 * time.Second} }
