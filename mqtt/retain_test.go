package mqtt

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// TestRetainedWhileSubscribing sets retained messages from Broker.Publish
// and from network clients (QoS 0 and 1, through the gateway's routing)
// while other clients, network and inline, subscribe to wildcard filters
// and get the retained messages. mochi's retained write
// (TopicsIndex.RetainMessage) and its scan on subscribe (scanMessages)
// touch the same topic nodes; run with -race, this fails on the data race
// unless the broker keeps them apart. Clients with retained wills come
// and go meanwhile. Then a late subscriber gets the last retained message
// of every topic.
func TestRetainedWhileSubscribing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SyncInterval = 100 * time.Millisecond // no fsync per retained message
	e := startBroker(t, cfg, nil)
	const topics, most = 4, 2000 // most: publishes per publisher
	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := map[string]string{}
	set := func(topic, payload string) {
		mu.Lock()
		last[topic] = payload
		mu.Unlock()
	}
	wg.Go(func() { // the gateway's own publisher: a sensor reading
		for i := 0; i < most && time.Now().Before(deadline); i++ {
			topic, payload := fmt.Sprintf("race/gw/%d", i%topics), fmt.Sprint("gw-", i)
			if err := e.b.Publish("sensor", topic, []byte(payload), true, 0); err != nil {
				t.Error(err)
				return
			}
			set(topic, payload)
		}
	})
	for _, qos := range []byte{0, 1} {
		pub := mustConnect(t, e.addr(), fmt.Sprint("pub", qos), "admin")
		wg.Go(func() {
			for i := 0; i < most && time.Now().Before(deadline); i++ {
				topic, payload := fmt.Sprintf("race/q%d/%d", qos, i%topics), fmt.Sprint("net-", i)
				wait(t, pub.Publish(topic, qos, true, payload))
				set(topic, payload)
			}
			// mochi handles a connection's packets in order: once this
			// is acknowledged, every QoS 0 publish before it is retained.
			wait(t, pub.Publish("fence", 1, false, "x"))
		})
	}
	wg.Go(func() { // retained wills of clients that vanish
		for i := 0; i < 20 && time.Now().Before(deadline); i++ {
			w, _ := dialWire(t, e.addr(), fmt.Sprint("will", i), "admin", 4, func(pk *packets.Packet) {
				pk.Connect.WillFlag, pk.Connect.WillRetain = true, true
				pk.Connect.WillTopic, pk.Connect.WillPayload = fmt.Sprint("race/will/", i%topics), []byte("gone")
			})
			w.conn.Close()
		}
	})
	for n, filter := range []string{"race/#", "race/+/1", "+/gw/+"} {
		sub := mustConnect(t, e.addr(), fmt.Sprint("sub", n), "admin")
		wg.Go(func() {
			for time.Now().Before(deadline) {
				wait(t, sub.Subscribe(filter, 0, func(paho.Client, paho.Message) {}))
				wait(t, sub.Unsubscribe(filter))
			}
		})
	}
	wg.Go(func() { // the gateway's own subscriber: an actuator, a history
		for time.Now().Before(deadline) {
			unsub, err := e.b.Subscribe("race/+/2", func(string, []byte, bool, byte) {})
			if err != nil {
				t.Error(err)
				return
			}
			unsub()
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	late := mustConnect(t, e.addr(), "late", "admin")
	rec, _ := subscribe(t, late, "race/#", 0)
	rec.Wait(t, "every topic's last retained message", func(ms []gatetest.Message) bool {
		got := map[string]string{}
		for _, m := range ms {
			got[m.Topic] = m.Payload
		}
		for topic, payload := range last {
			if got[topic] != payload {
				return false
			}
		}
		return got["race/will/0"] == "gone"
	})
	if len(last) != 3*topics {
		t.Errorf("retained topics set: %d, want %d", len(last), 3*topics)
	}
}

// BenchmarkPublishRetained is a retained QoS 0 publish through the whole
// broker while a subscriber follows the topic: the path the retained
// guard adds to (retain.go).
func BenchmarkPublishRetained(b *testing.B) {
	cfg := testConfig(b.TempDir())
	cfg.SyncInterval = time.Second
	e := startBroker(b, cfg, nil)
	unsub, err := e.b.Subscribe("bench/#", func(string, []byte, bool, byte) {})
	if err != nil {
		b.Fatal(err)
	}
	defer unsub()
	payload := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.b.Publish("bench", "bench/x", payload, true, 0); err != nil {
			b.Fatal(err)
		}
	}
}
