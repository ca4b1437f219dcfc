package mqtt

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Flow control: nothing acknowledged is dropped (see "Flow control" in
// doc.go). The bound is checked before the publisher is acknowledged; a
// message mochi would drop after the acknowledgement (its write queue to
// the subscriber was full) is put back into the subscriber's session.

// maxBacklog caps the per-session bound whatever max_inflight says, so that
// the publishers that passed the gate together never exhaust the 65535
// packet ids (mochi's own inflight quota is set to 65535 and never reached).
const maxBacklog = 32768

// flowCtl holds the flow state of the sessions that are congested (backlog
// at the bound), dropping (write queue full) or have re-queued messages.
// Sessions in normal flow have no entry, and the hot paths then cost one
// atomic load. Safe for concurrent use.
type flowCtl struct {
	b     *Broker
	log   *slog.Logger
	bound int           // QoS 1/2 messages a session may hold
	wait  time.Duration // longest a publisher waits for room
	stall time.Duration // a connected session stuck this long is disconnected

	congested atomic.Int32 // entries with congested set: the gate's fast path
	active    atomic.Int32 // len(states): the PUBACK path's fast path

	mu     sync.Mutex
	states map[*mochi.Client]*clientFlow
	wake   chan struct{} // closed and replaced when a backlog shrinks or a session goes

	wq        writeQueue    // mochi's write queues (QoS 0 backpressure)
	wait0     time.Duration // longest wait for room in one write queue (qos0Wait)
	held0     atomic.Int64  // QoS 0 deliveries queued after waiting for room
	dropped0  atomic.Int64  // QoS 0 deliveries dropped (queue full)
	requeued  atomic.Int64  // QoS 1/2 deliveries put back into the session
	lost      atomic.Int64  // QoS 1/2 deliveries that could not be put back (must stay 0)
	throttled atomic.Int64  // publishes that waited for room
	refused   atomic.Int64  // publishes refused: the bound was reached
	kicked    atomic.Int64  // stalled clients disconnected
	logged    atomic.Int64  // unix nanos of the last drop/refusal log line
	unlogged  atomic.Int64  // events since that line
}

// clientFlow is one session's flow state; guarded by flowCtl.mu.
type clientFlow struct {
	cl        *mochi.Client
	congested bool      // backlog at the bound
	since     time.Time // congested or dropping since (zero: neither)
	progress  time.Time // last PUBACK/PUBCOMP while congested
	lastDrop  time.Time
	parked    []uint16 // re-queued packet ids, oldest first; the packets are in the session's inflight
	pumping   bool
	stuck0    bool // its write queue made no room within qos0Wait: QoS 0 is dropped at once
}

// stuck reports whether QoS 0 for cl is dropped without waiting.
func (f *flowCtl) stuck(cl *mochi.Client) bool {
	if f.active.Load() == 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[cl]
	return st != nil && st.stuck0
}

func newFlowCtl(b *Broker, cfg Config) *flowCtl {
	return &flowCtl{
		b: b, log: b.log, bound: min(cfg.MaxInflight, maxBacklog), wait: cfg.PublishWait, stall: cfg.StallTimeout, wq: newWriteQueue(), wait0: qos0Wait,
		states: map[*mochi.Client]*clientFlow{}, wake: make(chan struct{}),
	}
}

// stateLocked returns cl's entry, creating it. f.mu is held.
func (f *flowCtl) stateLocked(cl *mochi.Client) *clientFlow {
	st := f.states[cl]
	if st == nil {
		st = &clientFlow{cl: cl}
		f.states[cl] = st
		f.active.Add(1)
	}
	return st
}

func (f *flowCtl) deleteLocked(st *clientFlow) {
	if st.congested {
		st.congested = false
		f.congested.Add(-1)
	}
	delete(f.states, st.cl)
	f.active.Add(-1)
}

func (f *flowCtl) wakeLocked() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// queued runs for every QoS 1/2 message added to a session (mochi's
// OnQosPublish): it marks the session congested when it reaches the bound.
func (f *flowCtl) queued(cl *mochi.Client) {
	if cl.Net.Inline || cl.State.Inflight.Len() < f.bound {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stateLocked(cl)
	if !st.congested {
		st.congested = true
		f.congested.Add(1)
		now := time.Now()
		st.progress = now
		if st.since.IsZero() {
			st.since = now
		}
	}
}

// completed runs when a session's QoS 1/2 message is done (acknowledged or
// discarded); a congested session below three quarters of the bound is
// relieved and the waiting publishers are woken.
func (f *flowCtl) completed(cl *mochi.Client) {
	if f.active.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[cl]
	if st == nil || !st.congested {
		return
	}
	st.progress = time.Now()
	if cl.State.Inflight.Len() <= f.bound*3/4 {
		st.congested = false
		f.congested.Add(-1)
		st.since = time.Time{}
		f.wakeLocked()
	}
}

// ended runs when a connection ends: re-queued messages stay in the
// session's inflight (resent at reconnect); waiting publishers re-check,
// since there is no point waiting for a session that is away.
func (f *flowCtl) ended(cl *mochi.Client, expire bool) {
	if f.active.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[cl]
	if st == nil {
		return
	}
	st.parked, st.since = nil, time.Time{}
	if expire || cl.IsTakenOver() || !st.congested {
		f.deleteLocked(st)
	}
	f.wakeLocked()
}

// admit is the gate before a QoS 1/2 publish is acknowledged. It returns
// true at once if no session the message goes to is at the bound; else,
// with wait, it waits up to f.wait for room while such a session is
// connected. pub's own session is not waited for (it could not drain
// while its publisher is held).
func (f *flowCtl) admit(pub *mochi.Client, topic string, wait bool) bool {
	if f.congested.Load() == 0 {
		return true
	}
	var deadline time.Time
	for {
		full, online, wake := f.blocked(pub, topic)
		if !full {
			return true
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(f.wait)
			if wait && online && f.wait > 0 {
				f.throttled.Add(1)
			}
		}
		if !wait || !online || !now.Before(deadline) {
			f.refused.Add(1)
			return false
		}
		t := time.NewTimer(min(deadline.Sub(now), 50*time.Millisecond))
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// blocked reports whether a session other than pub's, subscribed to topic
// at QoS 1/2, is at the bound, and whether one such session is connected.
func (f *flowCtl) blocked(pub *mochi.Client, topic string) (full, online bool, wake <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for cl, st := range f.states {
		if !st.congested || cl == pub || (pub != nil && cl.ID == pub.ID) || cl.State.Inflight.Len() < f.bound {
			continue
		}
		if qos, _, _ := deliveryQoS(cl, topic); qos == 0 {
			continue
		}
		full = true
		if !cl.Closed() {
			online = true
			break
		}
	}
	return full, online, f.wake
}

// deliveryQoS returns the QoS at which cl's subscriptions receive topic
// (0 if none matches), their identifiers, and whether one asks for the
// retain flag as published. It allocates; it runs on slow paths only.
func deliveryQoS(cl *mochi.Client, topic string) (qos byte, ids []int, retainAsPublished bool) {
	for filter, sub := range cl.State.Subscriptions.GetAll() {
		if !covers(stripShare(filter), topic) {
			continue
		}
		qos = max(qos, sub.Qos)
		if sub.Identifier > 0 {
			ids = append(ids, sub.Identifier)
		}
		retainAsPublished = retainAsPublished || sub.RetainAsPublished
	}
	slices.Sort(ids)
	return qos, ids, retainAsPublished
}

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
		atomic.AddInt64(&f.b.srv.Info.Inflight, 1)
		cl.State.Inflight.DecreaseSendQuota()
		if st := f.b.storeHook(); st != nil {
			st.OnQosPublish(cl, out, out.Created, 0)
		}
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

// watch disconnects connected clients that stay stalled past f.stall: a
// session at the bound without any acknowledgement, or a write queue that
// keeps overflowing. Their persistent sessions keep the messages.
func (f *flowCtl) watch(stop <-chan struct{}) {
	tick := min(max(f.stall/4, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var kick []*mochi.Client
		now := time.Now()
		f.mu.Lock()
		for cl, st := range f.states {
			if cl.Closed() {
				if !st.congested {
					f.deleteLocked(st)
				}
				continue
			}
			if st.stuck0 && f.wq.ok && !f.wq.halfFull(cl) {
				st.stuck0 = false // drained: wait for it again
			}
			dropping := now.Sub(st.lastDrop) <= 2*tick
			stuck := st.congested && now.Sub(st.progress) >= f.stall
			if !dropping && !st.congested {
				st.since = time.Time{}
				if len(st.parked) == 0 && !st.pumping {
					f.deleteLocked(st)
				}
				continue
			}
			if stuck || (dropping && !st.since.IsZero() && now.Sub(st.since) >= f.stall) {
				kick = append(kick, cl)
				st.since = time.Time{}
			}
		}
		f.mu.Unlock()
		for _, cl := range kick {
			f.kicked.Add(1)
			f.log.Warn("slow client disconnected: it did not keep up with its messages", "client", cl.ID,
				"listener", cl.Net.Listener, "addr", cl.Net.Remote, "backlog", cl.State.Inflight.Len(), "limit", f.stall)
			// Stop closes the connection without writing to it: a
			// DISCONNECT would wait behind the stalled writes.
			cl.Stop(packets.ErrQuotaExceeded)
		}
	}
}

// refuse refuses a publish at the bound: MQTT 5 gets PUBACK/PUBREC 0x97
// (quota exceeded); an MQTT 3 publisher, which has no such code, is
// disconnected without an acknowledgement, so it keeps the message and
// sends it again after reconnecting.
func (h *gateHook) refuseQuota(cl *mochi.Client, pk packets.Packet) error {
	f := h.b.flow
	f.note(cl, "publish refused: a subscriber's backlog is at mqtt.max_inflight")
	if cl.Properties.ProtocolVersion == 5 {
		return h.refusePublish(cl, pk, packets.ErrQuotaExceeded)
	}
	cl.Stop(packets.ErrQuotaExceeded)
	return packets.ErrRejectPacket
}

// errQuota is returned by Broker.Publish when a subscriber is at the bound.
var errQuota = errors.New("a subscriber's backlog is full (mqtt.max_inflight); message not accepted")
