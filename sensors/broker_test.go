package sensors

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// testBroker implements Broker over a real mochi server with a TCP
// listener on 127.0.0.1:0, as the sensors tests' stand-in for mqtt.Broker.
type testBroker struct {
	srv  *mochi.Server
	addr string
	mu   sync.Mutex
	next int
}

var _ Broker = (*testBroker)(nil)

func newTestBroker(t testing.TB) *testBroker {
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testBroker{srv: srv, addr: tcp.Address()}
}

func (b *testBroker) Publish(origin, topic string, payload []byte, retain bool, qos byte) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

func (b *testBroker) Subscribe(filter string, fn func(topic string, payload []byte, retained bool, qos byte)) (func(), error) {
	b.mu.Lock()
	b.next++
	id := b.next
	b.mu.Unlock()
	err := b.srv.Subscribe(filter, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = b.srv.Unsubscribe(filter, id) }, nil
}

// watcher is a real paho client subscribed to a filter over loopback TCP,
// keeping every message it receives.
type watcher struct {
	c    paho.Client
	mu   sync.Mutex
	msgs []msg
}

type msg struct{ topic, payload string }

func newWatcher(t *testing.T, addr, filter string) *watcher {
	w := &watcher{}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("watcher-%d", time.Now().UnixNano()))
	w.c = paho.NewClient(opts)
	if tok := w.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect: %v", tok.Error())
	}
	tok := w.c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		w.mu.Lock()
		w.msgs = append(w.msgs, msg{m.Topic(), string(m.Payload())})
		w.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

func (w *watcher) publish(t *testing.T, topic, payload string) {
	tok := w.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// waitFor polls until a message after index from on topic satisfies ok,
// returning its index; it fails the test after 20 s.
func (w *watcher) waitFor(t *testing.T, from int, topic string, ok func(string) bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for i := from; i < len(w.msgs); i++ {
			if m := w.msgs[i]; m.topic == topic && ok(m.payload) {
				w.mu.Unlock()
				return i, m.payload
			}
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no message on %s matching after 20s; got %d messages, last: %v", topic, len(w.msgs), w.msgs[max(0, len(w.msgs)-5):])
	return 0, ""
}

func (w *watcher) on(topic string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		if m.topic == topic {
			out = append(out, m.payload)
		}
	}
	return out
}
