package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// msgs collects messages delivered to a subscription.
type msgs struct {
	ch chan paho.Message
}

func subscribe(t testing.TB, c paho.Client, filter string, qos byte) (*msgs, byte) {
	t.Helper()
	m := &msgs{ch: make(chan paho.Message, 100)}
	tok := c.Subscribe(filter, qos, func(_ paho.Client, msg paho.Message) { m.ch <- msg })
	wait(t, tok)
	st := tok.(*paho.SubscribeToken)
	return m, st.Result()[filter]
}

func (m *msgs) next(t testing.TB) paho.Message {
	t.Helper()
	select {
	case msg := <-m.ch:
		return msg
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
		return nil
	}
}

// raw is a byte-level MQTT 5 client for what paho cannot do.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &raw{t: t, conn: c, r: bufio.NewReader(c)}
}

func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = 5
	}
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Auth:
		err = pk.AuthEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	default:
		r.t.Fatalf("raw: cannot send type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.conn.Write(buf.Bytes()); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads one packet; err is io.EOF or similar when the server closed.
func (r *raw) recv(version byte) (packets.Packet, error) {
	return readPacket(r.r, version)
}

// readPacket reads and decodes one packet a client may receive.
func readPacket(r *bufio.Reader, version byte) (packets.Packet, error) {
	var pk packets.Packet
	b, err := r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Auth:
		err = pk.AuthDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

func (r *raw) mustRecv(typ byte) packets.Packet {
	r.t.Helper()
	pk, err := r.recv(5)
	if err != nil {
		r.t.Fatalf("recv: %v", err)
	}
	if pk.FixedHeader.Type != typ {
		r.t.Fatalf("got packet type %d (reason %#x), want %d", pk.FixedHeader.Type, pk.ReasonCode, typ)
	}
	return pk
}

// expectClosed checks the server closed the connection with nothing more.
func (r *raw) expectClosed() {
	r.t.Helper()
	pk, err := r.recv(5)
	if err == nil {
		r.t.Fatalf("got packet type %d (reason %#x) after refusal, want the connection closed", pk.FixedHeader.Type, pk.ReasonCode)
	}
}

func connectPacket(id, user, pass string, version byte) packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
		},
	}
	if version == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	if user != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
	}
	if pass != "" {
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pass)
	}
	return pk
}

func userProp(pk packets.Packet, key string) string {
	for _, u := range pk.Properties.User {
		if u.Key == key {
			return u.Val
		}
	}
	return ""
}

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
