package mqtt

import (
	"bytes"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// backedUp reports whether the connection of client id has a full write
// buffer (the peer stopped reading).
func backedUp(e *testEnv, id string) bool {
	cl, ok := e.b.srv.Clients.Get(id)
	if !ok {
		return false
	}
	pc, ok := cl.Net.Conn.(*prefixConn)
	if !ok {
		return false
	}
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	return pc.pending != nil && len(*pc.pending) > maxPending-11000
}

// A viewer subscribed to "#" stops reading; an unrelated device's QoS 1
// publish is acknowledged within publish_wait, and nothing acknowledged
// is lost.
func TestStuckSubscriberDoesNotHoldPublishers(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.PublishWait = time.Second
	e := startBroker(t, cfg, nil)
	viewer, err := dialMQ(e.addr(), "stuck-viewer", "view", 5, false, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.close()
	if err := viewer.subscribe("#", 1); err != nil {
		t.Fatal(err)
	}
	// The viewer reads nothing from here on.
	admin, err := dialMQ(e.addr(), "bulk", "admin", 5, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.close()
	var stop atomic.Bool
	var sent atomic.Int64
	done := make(chan error, 1)
	go func() {
		payload := bytes.Repeat([]byte{'x'}, 10<<10)
		for i := range 2000 {
			if stop.Load() {
				break
			}
			err := admin.publish1("bulk/"+strconv.Itoa(i), payload, uint16(i%60000+1))
			if err != nil && !errors.Is(err, errRefused) {
				done <- err
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()
	waitFor(t, "the viewer's connection to back up", 60*time.Second, func() bool { return backedUp(e, "stuck-viewer") })
	t.Logf("viewer backed up after %d messages of 10 KB", sent.Load())

	dev, err := dialMQ(e.addr(), "dev-unrelated", "dev1", 5, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.close()
	start := time.Now()
	err = dev.publish1("devices/dev1/temp", []byte("21.5"), 1)
	took := time.Since(start)
	t.Logf("unrelated device's QoS 1 publish acknowledged in %v (publish_wait %v)", took, cfg.PublishWait)
	if err != nil && !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
	if took > cfg.PublishWait+2*time.Second {
		t.Errorf("the device waited %v for its PUBACK, want at most publish_wait (%v)", took, cfg.PublishWait)
	}
	// The stuck viewer now pays: later publishes do not wait again.
	start = time.Now()
	if err := dev.publish1("devices/dev1/temp", []byte("21.6"), 2); err != nil && !errors.Is(err, errRefused) {
		t.Fatal(err)
	}
	if took := time.Since(start); took > cfg.PublishWait/2 {
		t.Errorf("the device's second publish waited %v", took)
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("bulk publisher: %v", err)
	}
	if n := e.b.flow.lost.Load(); n != 0 {
		t.Errorf("%d acknowledged messages lost", n)
	}
}
