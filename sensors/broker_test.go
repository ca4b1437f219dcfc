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

	"mqttgate/gatetest"
	"mqttgate/mqtt/mqtttest"
)

// testBroker implements Broker over a real mochi server with a TCP
// listener on 127.0.0.1:0, as the sensors tests' stand-in for mqtt.Broker:
// the benchmark measures the sensors' path, which the gateway's broker
// (mqtttest) would bury under its own costs (store, access rules).
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
	c paho.Client
	gatetest.Recorder
}

func newWatcher(t *testing.T, addr, filter string) *watcher {
	w := &watcher{}
	w.c = mqtttest.MustPaho(t, mqtttest.PahoOptions(addr, fmt.Sprintf("watcher-%d", time.Now().UnixNano()), "", ""))
	mqtttest.Wait(t, w.c.Subscribe(filter, 1, w.Paho))
	return w
}

func (w *watcher) publish(t *testing.T, topic, payload string) {
	mqtttest.Wait(t, w.c.Publish(topic, 1, false, payload))
}

// waitFor waits until a message after index from on topic satisfies ok,
// returning its index and payload; it fails the test after 20 s.
func (w *watcher) waitFor(t *testing.T, from int, topic string, ok func(string) bool) (int, string) {
	t.Helper()
	i, m := w.WaitFor(t, from, "a matching message on "+topic, func(m gatetest.Message) bool { return m.Topic == topic && ok(m.Payload) })
	return i, m.Payload
}

func (w *watcher) on(topic string) []string { return w.On(topic) }
