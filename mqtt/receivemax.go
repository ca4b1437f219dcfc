package mqtt

import (
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Receive Maximum toward clients [MQTT-3.3.4-9]. mochi holds a QoS 1/2
// message back while the client's quota is used up (marked Expiry -1,
// server.go:1090) and sends it after the client's next packet; but having
// sent it, it deletes it from the session (server.go:723), so the
// client's PUBACK finds nothing, the quota is never given back, and once
// it is used up by such messages nothing more is sent: of 5 messages to a
// client with Receive Maximum 2, the 5th never arrives (nor is it kept for
// a reconnect). heldBack puts each such message back into the session
// before the client's next packet is read (the same goroutine deleted it,
// so the order is certain), where the PUBACK finds it as usual.
type heldBack struct {
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
	r.sent[cl] = append(r.sent[cl], pk)
	r.mu.Unlock()
}

// restore puts cl's recorded messages back into its session; it runs
// before each packet from cl is processed and when its connection ends.
func (r *heldBack) restore(cl *mochi.Client, srv *mochi.Server) {
	r.mu.Lock()
	pks := r.sent[cl]
	delete(r.sent, cl)
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
