package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// seqs is a set of (publisher, sequence number) pairs, safe for
// concurrent use.
type seqs struct {
	mu sync.Mutex
	m  map[string]bool
}

func newSeqs() *seqs { return &seqs{m: map[string]bool{}} }

func (s *seqs) add(k string) {
	s.mu.Lock()
	s.m[k] = true
	s.mu.Unlock()
}

func (s *seqs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// missing returns the keys of s not in other (sorted out by the caller).
func (s *seqs) missing(other *seqs) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	other.mu.Lock()
	defer other.mu.Unlock()
	var out []string
	for k := range s.m {
		if !other.m[k] {
			out = append(out, k)
		}
	}
	return out
}

// loadPublisher publishes n QoS 1 messages "<p>-<seq>" to load/<p>, one at
// a time, recording each one the broker acknowledged. A refusal (PUBACK
// 0x97) is retried; a dropped connection (an MQTT 3 publisher refused) is
// redialled and the unacknowledged message sent again.
func loadPublisher(addr string, p, n int, v byte, acked *seqs, refusals *countF) error {
	deadline := time.Now().Add(60 * time.Second)
	var c *mq
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for seq := 0; seq < n; {
		if time.Now().After(deadline) {
			return fmt.Errorf("publisher %d: only %d of %d acknowledged in time", p, seq, n)
		}
		if c == nil {
			var err error
			if c, err = dialMQ(addr, fmt.Sprintf("pub%d", p), "admin", v, true, 0); err != nil {
				time.Sleep(50 * time.Millisecond) // a client's back-off before it redials, not a wait for an event
				continue
			}
		}
		payload := fmt.Appendf(nil, "%d-%d", p, seq)
		err := c.publish1(fmt.Sprintf("load/%d", p), payload, uint16(seq%60000+1))
		switch {
		case err == nil:
			acked.add(string(payload))
			seq++
		case errors.Is(err, errRefused):
			refusals.add()
			time.Sleep(20 * time.Millisecond) // a client's back-off after a refusal, not a wait for an event
		default:
			refusals.add()
			c.close()
			c = nil
			time.Sleep(20 * time.Millisecond) // a client's back-off before it redials
		}
	}
	return nil
}

type countF struct {
	mu sync.Mutex
	n  int
}

func (c *countF) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }

// sink reads c until it fails or stop returns true, acknowledging QoS 1
// messages and recording their payloads.
func sink(c *mq, got *seqs, stop func() bool) error {
	for {
		if stop != nil && stop() {
			return nil
		}
		pk, err := c.read(30 * time.Second)
		if err != nil {
			return err
		}
		if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 {
			continue
		}
		got.add(string(pk.Payload))
		if err := c.puback(pk.PacketID); err != nil {
			return err
		}
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !gatetest.Poll(timeout, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func flowConfig(t *testing.T) Config {
	cfg := testConfig(t.TempDir())
	cfg.MaxQueued = 16
	cfg.MaxInflight = 32
	cfg.SyncInterval = 50 * time.Millisecond
	cfg.PublishWait = 30 * time.Second
	cfg.StallTimeout = 60 * time.Second
	return cfg
}

// checkDelivered fails the test for every acknowledged message the
// subscriber did not get.
func checkDelivered(t *testing.T, e *testEnv, acked, got *seqs) {
	t.Helper()
	waitFor(t, "the subscriber to get every acknowledged message", 30*time.Second, func() bool {
		return len(acked.missing(got)) == 0
	})
	if m := acked.missing(got); len(m) > 0 {
		t.Fatalf("%d acknowledged messages lost, e.g. %v", len(m), m[:min(len(m), 10)])
	}
	if n := e.b.flow.lost.Load(); n != 0 {
		t.Fatalf("broker counted %d lost messages", n)
	}
}

// TestNoDropFanInSmallQueue: 8 QoS 1 publishers to one QoS 1 subscriber
// that reads slowly at first, with a write queue of 16 that a QoS 0 flood
// overflows: every acknowledged message arrives.
func TestNoDropFanInSmallQueue(t *testing.T) {
	got := newSeqs()
	e := startBroker(t, flowConfig(t), nil)
	// QoS 0 backpressure off: the flood must overflow the queue while the
	// socket still takes data (with it on, the flood fills the socket and
	// mochi's writer then holds the client lock, see PERFORMANCE.md).
	e.b.flow.wait0 = 0
	addr := e.addr()
	sub, err := dialMQ(addr, "sub", "admin", 4, true, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if err := sub.subscribe("load/#", 1); err != nil {
		t.Fatal(err)
	}
	f := e.b.flow
	// The subscriber reads, but slowly at first: one that does not read
	// at all fills its socket, and mochi's writer then holds the client's
	// lock in the blocked write, so nothing reaches the full queue.
	var slow atomic.Bool
	slow.Store(true)
	sinkDone := make(chan error, 1)
	go func() {
		sinkDone <- sink(sub, got, func() bool {
			if slow.Load() {
				time.Sleep(2 * time.Millisecond) // models a slow reader on a real socket; nothing to wait for
			}
			return false
		})
	}()

	// Fill the subscriber's write queue with QoS 0 until mochi drops.
	flood, err := dialMQ(addr, "flood", "admin", 4, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.close()
	big := bytes.Repeat([]byte("x"), 8<<10)
	stopFlood := make(chan struct{})
	floodDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopFlood:
				floodDone <- nil
				return
			default:
			}
			if i > 50000 {
				floodDone <- errors.New("flood: queue never overflowed")
				return
			}
			if f.requeued.Load() > 0 && f.dropped0.Load() > 0 {
				time.Sleep(5 * time.Millisecond) // keep it full, gently: paces the load, waits for nothing
			}
			if err := flood.publish0("load/flood", big); err != nil {
				floodDone <- err
				return
			}
		}
	}()
	waitFor(t, "QoS 0 drops at the full queue", 30*time.Second, func() bool { return f.dropped0.Load() > 0 })

	const pubs, n = 8, 150
	acked := newSeqs()
	var refusals countF
	errs := make(chan error, pubs)
	for p := range pubs {
		go func() { errs <- loadPublisher(addr, p, n, 4, acked, &refusals) }()
	}
	waitFor(t, "QoS 1 re-queued and publishers held", 30*time.Second, func() bool {
		return f.requeued.Load() > 0 && f.throttled.Load() > 0
	})
	close(stopFlood)
	if err := <-floodDone; err != nil {
		t.Fatal(err)
	}
	slow.Store(false)
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if acked.len() != pubs*n {
		t.Fatalf("%d acknowledged, want %d", acked.len(), pubs*n)
	}
	checkDelivered(t, e, acked, got)
	t.Logf("acked %d, received %d distinct, requeued %d, QoS 0 dropped %d, publishes held %d, refused %d",
		acked.len(), got.len(), f.requeued.Load(), f.dropped0.Load(), f.throttled.Load(), refusals.n)
}

// TestNoDropPersistentSubscriberReconnects: the persistent subscriber goes
// away mid-load, its session fills to the bound, publishers are refused
// (MQTT 5: PUBACK 0x97; MQTT 3: disconnected) and retry; after it returns
// every acknowledged message arrives.
func TestNoDropPersistentSubscriberReconnects(t *testing.T) {
	e := startBroker(t, flowConfig(t), nil)
	addr := e.addr()
	f := e.b.flow
	sub, err := dialMQ(addr, "subp", "admin", 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.subscribe("load/#", 1); err != nil {
		t.Fatal(err)
	}
	const pubs, n = 8, 150
	acked, got := newSeqs(), newSeqs()
	var refusals countF
	errs := make(chan error, pubs)
	for p := range pubs {
		v := byte(4)
		if p%2 == 1 {
			v = 5
		}
		go func() { errs <- loadPublisher(addr, p, n, v, acked, &refusals) }()
	}
	// Leave mid-load, without DISCONNECT.
	_ = sink(sub, got, func() bool { return got.len() >= 200 })
	sub.close()
	waitFor(t, "publishers refused while the session is away and full", 30*time.Second, func() bool {
		return f.refused.Load() >= 4
	})
	sub, err = dialMQ(addr, "subp", "admin", 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	go func() { _ = sink(sub, got, nil) }()
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkDelivered(t, e, acked, got)
	t.Logf("acked %d, received %d distinct, requeued %d, refused %d, publisher retries %d",
		acked.len(), got.len(), f.requeued.Load(), f.refused.Load(), refusals.n)
}

// BenchmarkFlowGate measures what flow control adds to a QoS 1 publish
// and its delivery in normal flow: the gate in OnPublish and the check in
// OnQosPublish and OnQosComplete.
func BenchmarkFlowGate(b *testing.B) {
	e := startBroker(b, testConfig(b.TempDir()), nil)
	f := e.b.flow
	cl := e.b.srv.NewClient(nil, ListenerTCP, "bench", false)
	b.ReportAllocs()
	for b.Loop() {
		if !f.admit(cl, "sensors/bench/state", true) {
			b.Fatal("refused")
		}
		f.queued(cl)
		f.completed(cl)
	}
}

// BenchmarkPublishQoS1 is a QoS 1 publish through the whole broker with
// one QoS 1 subscriber (the inline path: gate, routing, inflight).
func BenchmarkPublishQoS1(b *testing.B) {
	cfg := testConfig(b.TempDir())
	cfg.SyncInterval = time.Second
	e := startBroker(b, cfg, nil)
	var n int64
	unsub, err := e.b.Subscribe("bench/#", func(string, []byte, bool, byte) { n++ })
	if err != nil {
		b.Fatal(err)
	}
	defer unsub()
	payload := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.b.Publish("bench", "bench/x", payload, false, 1); err != nil {
			b.Fatal(err)
		}
	}
}
