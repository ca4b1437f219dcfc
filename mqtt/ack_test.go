package mqtt

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// slowSave is a mochi hook that makes saving a message for one client slow,
// so that a PUBACK sent before the save would arrive while it is missing.
type slowSave struct {
	mochi.HookBase
	client string
	delay  time.Duration
}

func (h *slowSave) ID() string           { return "slow-save" }
func (h *slowSave) Provides(b byte) bool { return b == mochi.OnQosPublish }
func (h *slowSave) OnQosPublish(cl *mochi.Client, _ packets.Packet, _ int64, _ int) {
	if cl.ID == h.client {
		time.Sleep(h.delay) // models a slow disk inside the broker; the test waits for no event here
	}
}

// committedInflight returns the payloads of client's in-flight messages as
// committed in the store file.
func committedInflight(t *testing.T, e *testEnv, client string) [][]byte {
	t.Helper()
	var out [][]byte
	err := e.b.storeHook().db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketInflight).ForEach(func(k, v []byte) error {
			if !strings.HasPrefix(string(k), client+"\x00") {
				return nil
			}
			var m storage.Message
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m.Payload)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRoutedAndSavedBeforePuback: with sync_interval 0, when a publisher
// gets its PUBACK (MQTT 3.1.1 and 5) or PUBREC (QoS 2), the message is
// already committed to the store for an offline persistent subscriber, so
// a kill -9 right after the acknowledgement cannot lose it.
func TestRoutedAndSavedBeforePuback(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SyncInterval = 0
	e := startBroker(t, cfg, nil)
	addr := e.addr()
	for _, v := range []byte{4, 5} {
		sub, err := dialMQ(addr, "persist", "admin", v, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.subscribe("ack/#", 1); err != nil {
			t.Fatal(err)
		}
		sub.close()
	}
	waitFor(t, "subscriber gone", 20*time.Second, func() bool {
		cl, ok := e.b.srv.Clients.Get("persist")
		return ok && cl.Closed()
	})
	if err := e.b.srv.AddHook(&slowSave{client: "persist", delay: 300 * time.Millisecond}, nil); err != nil {
		t.Fatal(err)
	}
	for _, v := range []byte{4, 5} {
		pub, err := dialMQ(addr, "pub", "admin", v, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte{'v', '0' + v}
		if err := pub.publish1("ack/x", payload, 7); err != nil {
			t.Fatal(err)
		}
		// Right at the PUBACK: the subscriber's copy must be committed.
		found := false
		for _, p := range committedInflight(t, e, "persist") {
			found = found || bytes.Equal(p, payload)
		}
		if !found {
			t.Fatalf("MQTT %d: PUBACK arrived before the message for the offline persistent session was committed", v)
		}
		// QoS 2: the PUBREC likewise.
		payload2 := []byte{'q', '2', '0' + v}
		if err := pub.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, PacketID: 8,
			TopicName: "ack/y", Payload: payload2}); err != nil {
			t.Fatal(err)
		}
		rec, err := pub.read(20 * time.Second) // mq does not decode PUBREC: the type is enough
		if rec.FixedHeader.Type != packets.Pubrec {
			t.Fatalf("want PUBREC, got type %d err %v", rec.FixedHeader.Type, err)
		}
		found = false
		for _, p := range committedInflight(t, e, "persist") {
			found = found || bytes.Equal(p, payload2)
		}
		if !found {
			t.Fatalf("MQTT %d: PUBREC arrived before the QoS 2 message was committed", v)
		}
		pub.close()
	}
	// And the subscriber gets them all, once.
	sub, err := dialMQ(addr, "persist", "admin", 5, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	got := map[string]int{}
	for len(got) < 4 {
		pk, err := sub.read(20 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if pk.FixedHeader.Type == packets.Publish {
			got[string(pk.Payload)]++
			_ = sub.puback(pk.PacketID)
		}
	}
	for _, want := range []string{"v\x34", "v\x35", "q2\x34", "q2\x35"} {
		if got[want] == 0 {
			t.Errorf("message %q not delivered; got %v", want, got)
		}
	}
}

// TestCleanSessionsCostNoCommit: QoS 1 between clean-session clients, with
// sync_interval 0, writes nothing to the store.
func TestCleanSessionsCostNoCommit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SyncInterval = 0
	e := startBroker(t, cfg, nil)
	addr := e.addr()
	sub, err := dialMQ(addr, "csub", "admin", 4, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if err := sub.subscribe("clean/#", 1); err != nil {
		t.Fatal(err)
	}
	pub, err := dialMQ(addr, "cpub", "admin", 5, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	st := e.b.storeHook()
	before := st.commits.Load()
	const n = 50
	for i := range n {
		if err := pub.publish1("clean/x", []byte{byte(i)}, uint16(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < n; {
		pk, err := sub.read(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pk.FixedHeader.Type == packets.Publish {
			got++
			if err := sub.puback(pk.PacketID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d := st.commits.Load() - before; d != 0 {
		t.Errorf("%d store commits for %d QoS 1 messages between clean sessions; want 0", d, n)
	}
}

// TestPersistentPublisherQoS1CostsNoCommit: a device in a persistent
// session publishing QoS 1 readings that no persistent session subscribes
// to writes nothing to the store either. The PUBACK is not worth keeping:
// the message is routed before it is sent, and a publisher that misses it
// sends the message again. (It cost two commits per message, one of them
// waited for before the PUBACK: two fsyncs a second on the SD card for a
// device reporting every second.)
func TestPersistentPublisherQoS1CostsNoCommit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.SyncInterval = 0
	e := startBroker(t, cfg, nil)
	sub := mustDialWire(t, e.addr(), "reader", "admin", 4, nil)
	sub.subscribe(1, packets.Subscription{Filter: "readings/#", Qos: 1})
	dev := mustDialWire(t, e.addr(), "device", "admin", 4, func(pk *packets.Packet) { pk.Connect.Clean = false })
	// The session record is saved after the CONNACK, before the next
	// packet is read: one round trip later it is counted.
	dev.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	dev.expect(packets.Pingresp)
	st := e.b.storeHook()
	before := st.commits.Load()
	const n = 20
	for i := range n {
		dev.publish("readings/t", "21.5", 1, false, uint16(i+1), packets.Properties{})
		dev.expect(packets.Puback)
		sub.ack(sub.expect(packets.Publish))
	}
	if d := st.commits.Load() - before; d != 0 {
		t.Errorf("%d store commits for %d QoS 1 messages from a persistent session; want 0", d, n)
	}
}

// TestNoLocalAndRetainThroughRoute: the early routing keeps MQTT 5 No
// Local (the publisher's own subscription gets nothing) and stores a
// retained QoS 1 message once.
func TestNoLocalAndRetainThroughRoute(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	addr := e.addr()
	self, err := dialMQ(addr, "self", "admin", 5, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer self.close()
	if err := self.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "nl/#", Qos: 1, NoLocal: true}}}); err != nil {
		t.Fatal(err)
	}
	if pk, err := self.read(20 * time.Second); err != nil || pk.FixedHeader.Type != packets.Suback {
		t.Fatalf("want SUBACK, got %d %v", pk.FixedHeader.Type, err)
	}
	other := mustConnect(t, addr, "other", "admin")
	m, _ := subscribe(t, other, "nl/#", 1)
	if err := self.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, PacketID: 2,
		TopicName: "nl/a", Payload: []byte("mine")}); err != nil {
		t.Fatal(err)
	}
	if pk, err := self.read(20 * time.Second); err != nil || pk.FixedHeader.Type != packets.Puback || pk.PacketID != 2 {
		t.Fatalf("want PUBACK 2 (and not our own message back), got type %d id %d err %v", pk.FixedHeader.Type, pk.PacketID, err)
	}
	if msg := m.Next(t); msg.Payload != "mine" || msg.QoS != 1 {
		t.Fatalf("other got %q qos %d", msg.Payload, msg.QoS)
	}
	late := mustConnect(t, addr, "late", "admin")
	lm, _ := subscribe(t, late, "nl/#", 1)
	if msg := lm.Next(t); msg.Payload != "mine" || !msg.Retain {
		t.Fatalf("late subscriber got %q retained %v; want the retained message", msg.Payload, msg.Retain)
	}
	var stored int
	_ = e.b.storeHook().db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketRetained).Get([]byte("nl/a")) != nil {
			stored++
		}
		return nil
	})
	if stored != 1 {
		t.Error("retained message nl/a not in the store")
	}
}

// TestQoS0FanInBackpressure: 4 QoS 0 publishers to one subscriber with a
// write queue of 16: publishers are slowed instead of messages dropped,
// and the subscriber gets every message, in order per publisher.
func TestQoS0FanInBackpressure(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxQueued = 16
	e := startBroker(t, cfg, nil)
	e.b.flow.wait0 = 20 * time.Second // generous under -race; the default is qos0Wait
	if !e.b.flow.wq.ok {
		t.Fatal("mochi's write queue not found: QoS 0 backpressure is off (mochi changed?)")
	}
	addr := e.addr()
	sub, err := dialMQ(addr, "q0sub", "admin", 4, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if err := sub.subscribe("q0/#", 0); err != nil {
		t.Fatal(err)
	}
	const pubs, n = 4, 2000
	errs := make(chan error, pubs)
	for p := range pubs {
		go func() {
			m, err := dialMQ(addr, "q0pub"+string(rune('a'+p)), "admin", 4, true, 0)
			if err != nil {
				errs <- err
				return
			}
			defer m.close()
			for i := range n {
				if err := m.publish0("q0/x", []byte{byte(p), byte(i >> 8), byte(i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]int, pubs)
	for got := 0; got < pubs*n; got++ {
		pk, err := sub.read(20 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages (%v per publisher): %v; dropped %d", got, next, err, e.b.flow.dropped0.Load())
		}
		p, i := int(pk.Payload[0]), int(pk.Payload[1])<<8|int(pk.Payload[2])
		if i != next[p] {
			t.Fatalf("publisher %d: got message %d, want %d (dropped %d)", p, i, next[p], e.b.flow.dropped0.Load())
		}
		next[p]++
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if d := e.b.flow.dropped0.Load(); d != 0 {
		t.Errorf("%d QoS 0 messages dropped", d)
	}
	t.Logf("held %d deliveries", e.b.flow.held0.Load())
}
