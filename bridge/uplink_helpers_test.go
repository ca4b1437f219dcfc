package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/login"
	"mqttgate/mqtt"
)

// localBroker is the gateway's real broker (mqtt.Broker) on a loopback
// port, anonymous clients allowed as admin. Network clients reach it on
// addr.
type localBroker struct {
	*mqtt.Broker
	addr string
}

var _ Broker = (*mqtt.Broker)(nil)

func startLocalBroker(t testing.TB) *localBroker {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	users, err := login.OpenUsers(filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	logins, err := login.New(login.Config{Iterations: 4096}, users, bytes.Repeat([]byte{7}, 32), quiet)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mqtt.DefaultConfig()
	cfg.TCPAddr, cfg.DataDir = "127.0.0.1:0", dir
	cfg.AllowAnonymous, cfg.AnonymousRole = true, "admin"
	b, err := mqtt.New(cfg, quiet, logins)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("local broker: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("local broker not ready within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("local broker Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("local broker did not stop within 20 s")
		}
	})
	return &localBroker{Broker: b, addr: b.TCPAddr().String()}
}

// mosquitto is a real upstream broker on a loopback port.
type mosquitto struct {
	t       testing.TB
	port    int
	dir     string
	extra   string // more config lines
	cmd     *exec.Cmd
	log     bytes.Buffer
	persist bool
}

const mosquittoBin = "/usr/sbin/mosquitto"

func requireMosquitto(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		t.Fatalf("%s is missing: install Debian's mosquitto (apt-get install -y mosquitto mosquitto-clients, or `make test`): %v", mosquittoBin, err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newMosquitto prepares (does not start) a mosquitto on a free port.
func newMosquitto(t testing.TB, persist bool, extra string) *mosquitto {
	requireMosquitto(t)
	m := &mosquitto{t: t, port: freePort(t), dir: t.TempDir(), extra: extra, persist: persist}
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) url() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

func (m *mosquitto) start() {
	m.t.Helper()
	conf := fmt.Sprintf("user root\nlistener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n", m.port)
	if m.persist {
		conf += fmt.Sprintf("persistence true\npersistence_location %s/\nautosave_interval 1\n", m.dir)
	} else {
		conf += "persistence false\n"
	}
	conf += m.extra
	path := filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		m.t.Fatal(err)
	}
	m.log.Reset()
	m.cmd = exec.Command(mosquittoBin, "-c", path)
	m.cmd.Stdout, m.cmd.Stderr = &syncWriter{w: &m.log}, &syncWriter{w: &m.log}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %d: %v\n%s", m.port, err, m.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends mosquitto with SIGTERM (it saves its persistence file).
func (m *mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// connectClient connects a paho client or fails the test.
func connectClient(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c := paho.NewClient(o.SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %v: %v", o.Servers, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(15 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runUplink starts u.Run and returns a stop func that cancels it and
// waits for Run to return.
func runUplink(t testing.TB, u *Uplink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
