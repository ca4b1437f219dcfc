package mqtt

import (
	"math"
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// QoS 0 backpressure. mochi drops a QoS 0 message at once when a
// subscriber's write queue (max_queued) is full, without slowing the
// publisher, so a fan-in of fast publishers loses most of its messages.
// The gateway instead waits, on the publisher's goroutine (so its
// connection is not read meanwhile), for room in that queue, for at most
// qos0Wait, and then queues the message itself: in order, as mochi would
// have. A subscriber whose queue makes no room within qos0Wait is marked
// stuck; later messages for it are dropped at once (and counted) until its
// queue has drained to half, so a stalled client delays its publishers
// once, not at every message.
//
// mochi v2.7.9 has no exported way to queue a packet to a client, so the
// queue (ClientState.outbound) and its counter (outboundQty) are reached by
// reflection once, in New, and checked by type. This file is the only one
// that reaches into mochi's unexported state (also reservePacketIDs and
// sendQuota, at its end). If mochi changes those
// fields, writeQueue.ok is false and the gateway falls back to dropping
// (New logs a warning); TestWriteQueueFound fails so that the upgrade does
// not go unnoticed.

// qos0Wait bounds the wait for room in one subscriber's write queue.
const qos0Wait = 250 * time.Millisecond

// writeQueue locates mochi's per-client write queue fields.
type writeQueue struct {
	ok           bool
	chanOff, qty uintptr // offsets in mochi.ClientState
}

func newWriteQueue() writeQueue {
	t := reflect.TypeFor[mochi.ClientState]()
	ch, ok1 := t.FieldByName("outbound")
	n, ok2 := t.FieldByName("outboundQty")
	if !ok1 || !ok2 || ch.Type != reflect.TypeFor[chan *packets.Packet]() || n.Type != reflect.TypeFor[int32]() {
		return writeQueue{}
	}
	return writeQueue{ok: true, chanOff: ch.Offset, qty: n.Offset}
}

func (q writeQueue) chanOf(cl *mochi.Client) chan *packets.Packet {
	return *(*chan *packets.Packet)(unsafe.Add(unsafe.Pointer(&cl.State), q.chanOff))
}

func (q writeQueue) qtyOf(cl *mochi.Client) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(&cl.State), q.qty))
}

// halfFull reports whether cl's write queue holds at least half its capacity
// (len on a channel is safe for concurrent use).
func (q writeQueue) halfFull(cl *mochi.Client) bool {
	ch := q.chanOf(cl)
	return len(ch) >= cap(ch)/2
}

// push queues out for cl, waiting up to wait for room; false if there was
// none (or the client is closed).
func (q writeQueue) push(cl *mochi.Client, out *packets.Packet, wait time.Duration) bool {
	ch := q.chanOf(cl)
	select {
	case ch <- out:
		atomic.AddInt32(q.qtyOf(cl), 1)
		return true
	default:
	}
	if cl.Closed() {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- out:
		atomic.AddInt32(q.qtyOf(cl), 1)
		return true
	case <-t.C:
		return false
	}
}

// reservePacketIDs keeps mochi from numbering its messages to clients
// with the top n Packet Identifiers, for the aliases of pktid.go. mochi
// v2.7.9 numbers up to Capabilities.maximumPacketID (clients.go:288), an
// unexported field that mochi.New sets to 65535 (server.go:214), so it is
// lowered after New. It reports whether the field was found
// (TestPacketIDsReserved fails if not).
func reservePacketIDs(caps *mochi.Capabilities, n int) bool {
	f, ok := reflect.TypeFor[mochi.Capabilities]().FieldByName("maximumPacketID")
	if !ok || f.Type != reflect.TypeFor[uint32]() {
		return false
	}
	p := (*uint32)(unsafe.Add(unsafe.Pointer(caps), f.Offset))
	*p = math.MaxUint16 - uint32(n)
	return true
}

// sendQuota locates Inflight.sendQuota, mochi's count of the QoS 1/2
// PUBLISHes it may still send a client under its Receive Maximum
// (inflight.go:139-156 has no getter), for pubrelQuota.
type sendQuota struct {
	ok  bool
	off uintptr // in mochi.Inflight
}

func newSendQuota() sendQuota {
	f, ok := reflect.TypeFor[mochi.Inflight]().FieldByName("sendQuota")
	if !ok || f.Type != reflect.TypeFor[int32]() {
		return sendQuota{}
	}
	return sendQuota{ok: true, off: f.Offset}
}

// of returns cl's send quota, for atomic use.
func (q sendQuota) of(cl *mochi.Client) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(cl.State.Inflight), q.off))
}
