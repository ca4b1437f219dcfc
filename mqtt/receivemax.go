package mqtt

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Receive Maximum toward clients [MQTT-3.3.4-9]. mochi holds a QoS 1/2
// message back while the client's quota is used up (marked Expiry -1,
// server.go:1090) and sends one after each packet from the client that
// leaves quota (server.go:719); but it picks one at random among those
// created in the same second (inflight.go:85 sorts by the second's low 16
// bits, over a map), so they arrive out of order, and having sent it, it
// deletes it from the session (server.go:723), so the client's PUBACK
// finds nothing, the quota is never given back, and once it is used up by
// such messages nothing more is sent: of 5 messages to a client with
// Receive Maximum 2, the 5th never arrives (nor is it kept for a
// reconnect).
//
// So the gateway sends them itself: when the client acknowledges a
// message (mochi's OnQosComplete, right after it gave back one unit of
// quota), the oldest held-back message is marked as sent, takes that unit
// and is written (sendHeld); mochi then finds no quota left. heldBack
// still puts back any message mochi sent and deleted, before the client's
// next packet is read (the same goroutine deleted it, so the order is
// certain), where the PUBACK finds it as usual.

// sendHeld writes cl's oldest held-back message, if any, once pk, a
// PUBACK or PUBCOMP read from cl, gave back a unit of its send quota.
// Acks the server built (an inbound QoS 1's PUBACK, server.go:962, and the
// resend at reconnect, clients.go:322) have no Remaining length and are
// not the client's.
func sendHeld(cl *mochi.Client, pk packets.Packet) {
	t := pk.FixedHeader.Type
	if cl.Net.Inline || serverBuilt(pk) || (t != packets.Puback && t != packets.Pubcomp) {
		return
	}
	// Without a Receive Maximum (every MQTT 3 client) mochi has no send
	// quota and holds nothing back (server.go:1089). With one, mochi
	// deleted the acknowledged message before this hook: while any is held
	// back, the messages sent and not acknowledged are one short of the
	// Receive Maximum, so the session holds at least that many. Below it
	// nothing is held back. Either way the scan (a copy of every message
	// in flight) is skipped: this runs for every PUBACK.
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm == 0 || cl.State.Inflight.Len() < rm {
		return
	}
	next, ok := oldestHeld(cl.State.Inflight.GetAll(true))
	if !ok {
		return
	}
	next.Expiry = 0 // sent: no longer held back (its expiry was lost to mochi's mark)
	cl.State.Inflight.Set(next)
	cl.State.Inflight.DecreaseSendQuota()
	_ = cl.WritePacket(next) // on failure the session keeps it for a reconnect
}

// serverBuilt reports whether pk, an acknowledgement mochi hands a hook,
// is one the server built for the client's own message rather than one
// read from the client: a packet read has a Remaining Length, one built
// has none.
func serverBuilt(pk packets.Packet) bool { return pk.FixedHeader.Remaining == 0 }

// oldestHeld returns the held-back PUBLISH sent first: packet ids are
// given in sequence, modulo 65536 (clients.go:276), so the oldest is the
// one after the widest gap between the ids in use.
func oldestHeld(pks []packets.Packet) (packets.Packet, bool) {
	pks = slices.DeleteFunc(pks, func(pk packets.Packet) bool { return pk.FixedHeader.Type != packets.Publish })
	if len(pks) == 0 {
		return packets.Packet{}, false
	}
	slices.SortFunc(pks, func(a, b packets.Packet) int { return cmp.Compare(a.PacketID, b.PacketID) })
	best, gap := 0, int(pks[0].PacketID)+1<<16-int(pks[len(pks)-1].PacketID)
	for i := 1; i < len(pks); i++ {
		if g := int(pks[i].PacketID) - int(pks[i-1].PacketID); g > gap {
			best, gap = i, g
		}
	}
	return pks[best], true
}

// heldBack records the held-back messages mochi itself sends (and deletes
// from the session) to put them back.
type heldBack struct {
	n    atomic.Int64 // clients in sent: restore takes no lock while it is 0
	mu   sync.Mutex
	sent map[*mochi.Client][]packets.Packet // written by mochi's deferred send, to restore
}

// noteSent runs as pk is written; a held-back message (Expiry -1) is
// recorded to be restored.
func (r *heldBack) noteSent(cl *mochi.Client, pk packets.Packet) {
	if pk.Expiry >= 0 || pk.FixedHeader.Qos == 0 || cl.Net.Inline {
		return
	}
	pk.Expiry = 0 // sent now: not held back any more (its expiry is lost by mochi's mark)
	r.mu.Lock()
	if r.sent == nil {
		r.sent = map[*mochi.Client][]packets.Packet{}
	}
	if _, ok := r.sent[cl]; !ok {
		r.n.Add(1)
	}
	r.sent[cl] = append(r.sent[cl], pk)
	r.mu.Unlock()
}

// restore puts cl's recorded messages back into its session; it runs
// before each packet from cl is processed and when its connection ends.
func (r *heldBack) restore(cl *mochi.Client, srv *mochi.Server) {
	if r.n.Load() == 0 {
		return // nothing recorded for any client: every inbound packet passes here
	}
	r.mu.Lock()
	pks, ok := r.sent[cl]
	if ok {
		delete(r.sent, cl)
		r.n.Add(-1)
	}
	r.mu.Unlock()
	for _, pk := range pks {
		if _, ok := cl.State.Inflight.Get(pk.PacketID); ok {
			continue // not deleted (a resend at reconnect)
		}
		if cl.State.Inflight.Set(pk) {
			atomic.AddInt64(&srv.Info.Inflight, 1)
		}
	}
}

// pubrelQuota keeps the client's own QoS 2 messages out of the server's
// send quota. When a PUBREL from the client completes its QoS 2 exchange,
// mochi gives back a unit of the quota for the server's messages too
// (processPubrel, server.go:1218), as if the client had acknowledged one
// of them; the server then has one more unacknowledged message out than
// the client's Receive Maximum allows [MQTT-3.3.4-9], and a client library
// may disconnect with 0x93. before takes that unit as the PUBREL is read
// (or, with none left, owes it) and after settles the debt once mochi
// has given it back.
type pubrelQuota struct {
	q   sendQuota
	mu  sync.Mutex
	owe map[*mochi.Client]bool // a PUBREL read while cl's quota was 0
}

// before runs as a packet from cl is read, after packetIDs.read.
func (r *pubrelQuota) before(cl *mochi.Client, pk packets.Packet) {
	if !r.q.ok || cl.Net.Inline || cl.Properties.ProtocolVersion < 5 || pk.FixedHeader.Type != packets.Pubrel ||
		pk.ReasonCode >= packets.ErrUnspecifiedError.Code || !pubrecAt(cl, pk.PacketID) {
		return // mochi gives nothing back (server.go:1197, :1201)
	}
	p := r.q.of(cl)
	for {
		q := atomic.LoadInt32(p)
		if q == 0 {
			r.mu.Lock()
			if r.owe == nil {
				r.owe = map[*mochi.Client]bool{}
			}
			r.owe[cl] = true
			r.mu.Unlock()
			return
		}
		if atomic.CompareAndSwapInt32(p, q, q-1) {
			return // mochi's increase makes it q again
		}
	}
}

// after runs when mochi completes cl's QoS 2 exchange (OnQosComplete with
// the PUBREL), and forget when cl's connection ends.
func (r *pubrelQuota) after(cl *mochi.Client) {
	r.mu.Lock()
	owed := r.owe[cl]
	delete(r.owe, cl)
	r.mu.Unlock()
	if owed {
		cl.State.Inflight.DecreaseSendQuota()
	}
}
