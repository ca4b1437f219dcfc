package mqtt

import (
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// What flow control does when a subscriber's write queue is full (mochi's
// OnPublishDropped): QoS 0 waits for room or is dropped and counted; QoS
// 1/2, acknowledged already, is put back into the session.

// dropped runs when mochi could not queue pk for cl (its write queue was
// full; mochi's OnPublishDropped). QoS 0 is counted; QoS 1/2, which the
// publisher already has an acknowledgement for, is put back into the
// session's inflight (and so into the store) under a new packet id and
// written by a pump goroutine.
func (f *flowCtl) dropped(cl *mochi.Client, pk packets.Packet) {
	qos, ids, rap := byte(0), []int(nil), false
	if pk.FixedHeader.Qos > 0 || cl.Properties.ProtocolVersion == 5 {
		// (MQTT 3 QoS 0 needs nothing from the subscriptions: this is the
		// common backpressure path, so it skips their copy.)
		qos, ids, rap = deliveryQoS(cl, pk.TopicName)
		qos = min(qos, pk.FixedHeader.Qos)
	}
	out := pk.Copy(false)
	out.FixedHeader.Qos = qos
	out.FixedHeader.Retain = pk.FixedHeader.Retain && cl.Properties.ProtocolVersion == 5 && rap
	if cl.Properties.ProtocolVersion == 5 && len(ids) > 0 {
		out.Properties.SubscriptionIdentifier = ids
	}
	if qos == 0 {
		if f.mayWait(cl, pk) {
			// Backpressure (queue.go): wait for room, then queue it in order.
			if f.wq.push(cl, &out, f.wait0) {
				f.held0.Add(1)
				return
			}
			f.setStuck(cl)
		}
		f.markDrop(cl)
		f.dropped0.Add(1)
		f.note(cl, "QoS 0 messages dropped: a client's write queue is full; raise mqtt.max_queued or find the slow client")
		return
	}
	// QoS 1/2, acknowledged already: back into the session's inflight
	// (and the store) under a new packet id, then into the write queue in
	// order once it has room, or else parked and written by a pump.
	out.Expiry = max(out.Expiry, 0) // never mochi's "send when quota allows" mark
	id, err := cl.NextPacketID()
	if err != nil {
		f.markDrop(cl)
		f.lost.Add(1)
		f.log.Error("acknowledged message lost: no free packet id for the session", "client", cl.ID, "topic", pk.TopicName, "err", err)
		return
	}
	out.PacketID = uint16(id)
	if cl.State.Inflight.Set(out) {
		atomic.AddInt64(&f.info.Inflight, 1)
		cl.State.Inflight.DecreaseSendQuota()
		f.store.OnQosPublish(cl, out, out.Created, 0)
	}
	f.queued(cl)
	if f.mayWait(cl, pk) && !f.pumping(cl) {
		if f.wq.push(cl, &out, f.wait0) {
			f.held0.Add(1)
			return
		}
		f.setStuck(cl)
	}
	f.markDrop(cl)
	f.requeued.Add(1)
	f.mu.Lock()
	st := f.stateLocked(cl)
	st.parked = append(st.parked, out.PacketID)
	start := !st.pumping
	st.pumping = true
	f.mu.Unlock()
	if start {
		go f.pump(st)
	}
}

// mayWait reports whether a delivery to cl that found its write queue full
// should wait for room: backpressure is on, the publisher is another
// client, and cl's queue has not been stuck.
func (f *flowCtl) mayWait(cl *mochi.Client, pk packets.Packet) bool {
	return f.wq.ok && f.wait0 > 0 && pk.Origin != cl.ID && !f.stuck(cl)
}

func (f *flowCtl) setStuck(cl *mochi.Client) {
	f.mu.Lock()
	f.stateLocked(cl).stuck0 = true
	f.mu.Unlock()
}

// pumping reports whether cl has parked messages being written.
func (f *flowCtl) pumping(cl *mochi.Client) bool {
	if f.active.Load() == 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[cl]
	return st != nil && st.pumping
}

// markDrop records that cl's write queue overflowed (the stall watchdog).
func (f *flowCtl) markDrop(cl *mochi.Client) {
	now := time.Now()
	f.mu.Lock()
	st := f.stateLocked(cl)
	st.lastDrop = now
	if st.since.IsZero() {
		st.since = now
	}
	f.mu.Unlock()
}

// pump writes st's re-queued messages in order, straight to the connection
// (beside mochi's write loop), until none is left or the connection ends.
func (f *flowCtl) pump(st *clientFlow) {
	cl := st.cl
	for {
		f.mu.Lock()
		if len(st.parked) == 0 || cl.Closed() {
			st.parked, st.pumping = nil, false
			f.mu.Unlock()
			return
		}
		id := st.parked[0]
		st.parked = st.parked[1:]
		f.mu.Unlock()
		pk, ok := cl.State.Inflight.Get(id)
		if !ok || pk.FixedHeader.Type != packets.Publish {
			continue
		}
		if err := cl.WritePacket(pk); err != nil {
			// The message stays in the session; a reconnect resends it.
			f.log.Debug("re-queued message not written", "client", cl.ID, "err", err)
		}
	}
}

// note logs a drop or refusal at most once per 10 s, with the count since.
func (f *flowCtl) note(cl *mochi.Client, msg string) {
	n := f.unlogged.Add(1)
	now := time.Now().UnixNano()
	last := f.logged.Load()
	if now-last < int64(10*time.Second) || !f.logged.CompareAndSwap(last, now) {
		return
	}
	f.unlogged.Add(-n)
	f.log.Warn(msg, "client", cl.ID, "listener", cl.Net.Listener, "events", n)
}
