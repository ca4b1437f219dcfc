package mqtt

import (
	"bufio"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// TestWriteQueueFound fails when queue.go's reflection no longer finds
// mochi's per-client write queue (a mochi upgrade renamed or retyped
// ClientState.outbound or outboundQty). The broker would still run, but
// QoS 0 backpressure would be off: messages to a full write queue would be
// dropped at once instead of waiting for room.
func TestWriteQueueFound(t *testing.T) {
	if !newWriteQueue().ok {
		t.Fatal("queue.go: mochi.ClientState has no outbound (chan *packets.Packet) and outboundQty (int32) " +
			"any more (mochi upgraded?): QoS 0 backpressure would fall back to dropping; update newWriteQueue for this mochi")
	}
}

// TestSendQuotaFound: the field pubrelQuota corrects is mochi's send
// quota: ResetSendQuota and DecreaseSendQuota move what it reads.
func TestSendQuotaFound(t *testing.T) {
	q := newSendQuota()
	if !q.ok {
		t.Fatal("queue.go: mochi.Inflight has no sendQuota (int32) any more (mochi upgraded?): " +
			"a client's own QoS 2 message would again exceed its Receive Maximum; update newSendQuota for this mochi")
	}
	cl := mochi.New(&mochi.Options{}).NewClient(nil, "t", "c", false)
	cl.State.Inflight.ResetSendQuota(5)
	cl.State.Inflight.DecreaseSendQuota()
	if got := atomic.LoadInt32(q.of(cl)); got != 4 {
		t.Fatalf("send quota read %d, want 4", got)
	}
}

// TestWriteQueueIsMochis: what push queues is what mochi's write loop
// sends, and the queue has the configured size (max_queued).
func TestWriteQueueIsMochis(t *testing.T) {
	q := newWriteQueue()
	if !q.ok {
		t.Fatal("mochi's write queue not found: see TestWriteQueueFound")
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = 3
	srv := mochi.New(&mochi.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	conn, peer := pipeTCP(t)
	cl := srv.NewClient(conn, ListenerTCP, "q", false)
	if c := cap(q.chanOf(cl)); c != 3 {
		t.Fatalf("write queue holds %d packets, want max_queued 3", c)
	}
	for i := range 3 {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "q/t", Payload: []byte{byte('0' + i)}}
		if !q.push(cl, &pk, 0) {
			t.Fatalf("push %d refused with room in the queue", i)
		}
	}
	if n := atomic.LoadInt32(q.qtyOf(cl)); n != 3 {
		t.Fatalf("mochi's queue count is %d after 3 pushes, want 3", n)
	}
	if !q.halfFull(cl) {
		t.Fatal("a full queue is not reported half full")
	}
	extra := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "q/t"}
	if q.push(cl, &extra, time.Millisecond) {
		t.Fatal("push into a full queue succeeded")
	}
	go cl.WriteLoop()
	defer cl.Stop(nil)
	r := bufio.NewReader(peer)
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range 3 {
		pk, err := gatetest.ReadPacket(r, 4)
		if err != nil {
			t.Fatalf("message %d not written by mochi's write loop: %v", i, err)
		}
		if pk.TopicName != "q/t" || string(pk.Payload) != string(rune('0'+i)) {
			t.Fatalf("message %d: got %s %q", i, pk.TopicName, pk.Payload)
		}
	}
	waitFor(t, "mochi's queue count back to 0", 20*time.Second, func() bool { return atomic.LoadInt32(q.qtyOf(cl)) == 0 })
}
