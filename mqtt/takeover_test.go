package mqtt

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// offlineSession leaves a persistent MQTT 3.1.1 session id of user
// subscribed to filter at QoS 1.
func offlineSession(t *testing.T, addr, id, user, filter string) {
	t.Helper()
	s, err := dialMQ(addr, id, user, 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.subscribe(filter, 1); err != nil {
		t.Fatal(err)
	}
	s.close()
}

// A session taken over keeps its messages in the in-flight gauge and in
// the store.
func TestTakeoverKeepsInflightCounted(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	offlineSession(t, e.addr(), "gauge-sess", "view", "g/#")
	waitFor(t, "the session to go offline", 20*time.Second, func() bool {
		cl, ok := e.b.srv.Clients.Get("gauge-sess")
		return ok && cl.Closed()
	})
	pub := mustConnect(t, e.addr(), "gauge-pub", "admin")
	for i := range 3 {
		wait(t, pub.Publish("g/"+strconv.Itoa(i), 1, false, "m"+strconv.Itoa(i)))
	}
	inflight := func() int64 { return atomic.LoadInt64(&e.b.srv.Info.Inflight) }
	waitFor(t, "the in-flight gauge at 3", 20*time.Second, func() bool { return inflight() == 3 })
	// The owner comes back (and does not acknowledge yet).
	s, err := dialMQ(e.addr(), "gauge-sess", "view", 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var ids []uint16
	for range 3 {
		pk, err := s.read(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pk.PacketID)
	}
	if n := inflight(); n != 3 {
		t.Errorf("in-flight gauge %d after the takeover, want 3", n)
	}
	if got := committedInflight(t, e, "gauge-sess"); len(got) != 3 {
		t.Errorf("%d messages in the store after the takeover, want 3", len(got))
	}
	for _, id := range ids {
		if err := s.puback(id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the acknowledgements", 20*time.Second, func() bool {
		cl, ok := e.b.srv.Clients.Get("gauge-sess")
		return ok && cl.State.Inflight.Len() == 0
	})
	if n := inflight(); n != 0 {
		t.Errorf("in-flight gauge %d after the acknowledgements, want 0", n)
	}
}

// A session at max_inflight stays at it across a restart and a takeover.
func TestBoundHoldsAfterRestartAndTakeover(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxInflight = 4
	cfg.PublishWait = 200 * time.Millisecond
	e := startBroker(t, cfg, nil)
	offlineSession(t, e.addr(), "bound-sess", "view", "b/#")
	n := 0
	publish := func(e *testEnv) error {
		p, err := dialMQ(e.addr(), "bound-pub", "admin", 5, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer p.close()
		n++
		return p.publish1("b/"+strconv.Itoa(n), []byte("m"), uint16(n))
	}
	for range 4 {
		if err := publish(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := publish(e); !errors.Is(err, errRefused) {
		t.Fatalf("5th publish to a session at max_inflight 4: %v, want refused", err)
	}
	e.stop()
	e = startBroker(t, cfg, e.logins)
	if err := publish(e); !errors.Is(err, errRefused) {
		t.Errorf("after a restart, a publish to a session at max_inflight: %v, want refused", err)
	}
	s, err := dialMQ(e.addr(), "bound-sess", "view", 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := publish(e); !errors.Is(err, errRefused) {
		t.Errorf("after a takeover, a publish to a session at max_inflight: %v, want refused", err)
	}
	cl, _ := e.b.srv.Clients.Get("bound-sess")
	if got := cl.State.Inflight.Len(); got != 4 {
		t.Errorf("session holds %d messages, max_inflight 4", got)
	}
}
