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
	"github.com/mochi-mqtt/server/v2/system"

	"mqttgate/topics"
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
	log   *slog.Logger
	info  *system.Info  // mochi's counters: the inflight count of re-queued messages
	store *store        // saves re-queued messages to persistent sessions
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

func newFlowCtl(cfg Config, info *system.Info, st *store, log *slog.Logger) *flowCtl {
	return &flowCtl{
		log: log, info: info, store: st, bound: min(cfg.MaxInflight, maxBacklog), wait: cfg.PublishWait, stall: cfg.StallTimeout,
		wq: newWriteQueue(), wait0: qos0Wait, states: map[*mochi.Client]*clientFlow{}, wake: make(chan struct{}),
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
		if !topics.Match(filter, topic) {
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

// errQuota is returned by Broker.Publish when a subscriber is at the bound.
var errQuota = errors.New("a subscriber's backlog is full (mqtt.max_inflight); message not accepted")

// flowHook feeds mochi's events on QoS 1/2 messages, write queues and
// sessions to the flow control.
type flowHook struct {
	mochi.HookBase
	flow *flowCtl
}

var _ mochi.Hook = (*flowHook)(nil)

func (h *flowHook) ID() string { return "mqttgate-flow" }

// Provides is asked by mochi at every hook call (a switch: no allocation).
func (h *flowHook) Provides(b byte) bool {
	switch b {
	case mochi.OnQosPublish, mochi.OnQosComplete, mochi.OnQosDropped, mochi.OnPublishDropped,
		mochi.OnDisconnect, mochi.OnClientExpired:
		return true
	}
	return false
}

func (h *flowHook) OnQosPublish(cl *mochi.Client, _ packets.Packet, _ int64, _ int) {
	h.flow.queued(cl)
}
func (h *flowHook) OnQosComplete(cl *mochi.Client, _ packets.Packet) { h.flow.completed(cl) }

// OnQosDropped: mochi's takeover moves the old connection's messages to
// the new one and then "drops" them from the old (ClearInflights), which
// takes them off the in-flight gauge although the session still holds
// them; they are counted back.
func (h *flowHook) OnQosDropped(cl *mochi.Client, _ packets.Packet) {
	if cl.IsTakenOver() {
		atomic.AddInt64(&h.flow.info.Inflight, 1)
		return
	}
	h.flow.completed(cl)
}

// A session that a takeover brought back at the bound is marked congested
// by wireHook.taken, as its CONNACK is encoded.

func (h *flowHook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) { h.flow.dropped(cl, pk) }
func (h *flowHook) OnDisconnect(cl *mochi.Client, _ error, expire bool)  { h.flow.ended(cl, expire) }
func (h *flowHook) OnClientExpired(cl *mochi.Client)                     { h.flow.ended(cl, true) }
