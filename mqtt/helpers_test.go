package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"

	"mqttgate/gatetest"
)

const testIterations = 4096

// testUsers are created in every test broker: name -> role; the password
// is "pw-" + name.
var testUsers = map[string]string{"admin": "admin", "op": "operator", "view": "viewer", "dev1": "device", "dev2": "device"}

type testEnv struct {
	b      *Broker
	logins *login.Service
	dir    string
	cancel context.CancelFunc
	done   chan error
	logs   *gatetest.Buffer
	once   sync.Once
}

func newLogins(t testing.TB, dir string, lcfg login.Config) *login.Service {
	t.Helper()
	users, err := login.OpenUsers(filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	if users.Len() == 0 {
		for name, role := range testUsers {
			if err := users.Add(name, role, "pw-"+name, testIterations); err != nil {
				t.Fatal(err)
			}
		}
	}
	lcfg.Iterations = testIterations
	s, err := login.New(lcfg, users, bytes.Repeat([]byte{7}, 32), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.DataDir = dir
	return cfg
}

// startBroker runs a broker on cfg until the test ends.
func startBroker(t testing.TB, cfg Config, logins *login.Service) *testEnv {
	t.Helper()
	if logins == nil {
		logins = newLogins(t, cfg.DataDir, login.Config{})
	}
	logs := &gatetest.Buffer{}
	b, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), logins)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEnv{b: b, logins: logins, dir: cfg.DataDir, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { e.done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-e.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("broker not ready")
	}
	t.Cleanup(e.stop)
	return e
}

func (e *testEnv) stop() {
	e.once.Do(func() {
		e.cancel()
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			panic("broker did not stop")
		}
	})
}

func (e *testEnv) addr() string { return e.b.TCPAddr().String() }

// pahoClient connects an MQTT 3.1.1 client; err is the connect result.
func pahoConnect(addr, id, user, pass string, opts ...func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		return nil, fmt.Errorf("connect timeout")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func mustConnect(t testing.TB, addr, id, user string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	c, err := pahoConnect(addr, id, user, "pw-"+user, opts...)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", id, user, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t testing.TB, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("token timeout")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

// subscribe subscribes c to filter and records what arrives; the byte
// is the granted QoS.
func subscribe(t testing.TB, c paho.Client, filter string, qos byte) (*gatetest.Recorder, byte) {
	t.Helper()
	m := &gatetest.Recorder{}
	tok := c.Subscribe(filter, qos, m.Paho)
	wait(t, tok)
	st := tok.(*paho.SubscribeToken)
	return m, st.Result()[filter]
}

// raw is gatetest's byte-level client for what paho cannot do.
type raw = gatetest.RawConn

func dialRaw(t testing.TB, addr string) *raw { return gatetest.DialRaw(t, addr) }

func connectPacket(id, user, pass string, version byte) packets.Packet {
	return gatetest.ConnectPacket(id, user, pass, version)
}

func userProp(pk packets.Packet, key string) string { return gatetest.UserProp(pk, key) }

// pipeTCP returns both ends of a loopback TCP connection.
func pipeTCP(t testing.TB) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	_ = client.SetDeadline(time.Now().Add(30 * time.Second))
	return r.c, client
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func loginCfg() login.Config { return login.Config{} }
