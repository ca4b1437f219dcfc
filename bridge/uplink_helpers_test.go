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
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// localBroker implements Broker over a real mochi server for the tests
// (the gateway uses mqtt.Broker). Network clients reach it on addr.
type localBroker struct {
	mochi.HookBase
	srv  *mochi.Server
	addr string

	mu         sync.Mutex
	intercepts map[int]func(origin, topic string, payload []byte, retain bool, qos byte) error
	next       int
	subID      atomic.Int64
}

var _ Broker = (*localBroker)(nil)

func startLocalBroker(t testing.TB) *localBroker {
	t.Helper()
	b := &localBroker{intercepts: map[int]func(string, string, []byte, bool, byte) error{}}
	b.srv = mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := b.srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.AddHook(b, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	ln.Close()
	if err := b.srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t1", Address: b.addr})); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *localBroker) ID() string { return "test-intercept" }
func (b *localBroker) Provides(x byte) bool {
	return x == mochi.OnPublish
}

// OnPublish runs the intercepts for network clients; Publish runs them
// itself for injected messages (origin is not visible here).
func (b *localBroker) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if err := b.runIntercepts(cl.ID, pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos); err != nil {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func (b *localBroker) runIntercepts(origin, topic string, payload []byte, retain bool, qos byte) error {
	b.mu.Lock()
	fns := make([]func(string, string, []byte, bool, byte) error, 0, len(b.intercepts))
	for _, fn := range b.intercepts {
		fns = append(fns, fn)
	}
	b.mu.Unlock()
	for _, fn := range fns {
		if err := fn(origin, topic, payload, retain, qos); err != nil {
			return err
		}
	}
	return nil
}

func (b *localBroker) Publish(origin, topic string, payload []byte, retain bool, qos byte) error {
	if err := b.runIntercepts(origin, topic, payload, retain, qos); err != nil {
		return err
	}
	return b.srv.Publish(topic, payload, retain, qos)
}

func (b *localBroker) Subscribe(filter string, fn func(topic string, payload []byte, retained bool, qos byte)) (func(), error) {
	id := int(b.subID.Add(1))
	err := b.srv.Subscribe(filter, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = b.srv.Unsubscribe(filter, id) }, nil
}

func (b *localBroker) Intercept(fn func(origin, topic string, payload []byte, retain bool, qos byte) error) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	b.intercepts[id] = fn
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.intercepts, id)
	}
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
