package mqtt

import (
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// subQuota bounds each client's subscriptions (max_subscriptions). mochi
// has no such bound: OnSubscribe turns each new filter past it into an
// invalid one (so mochi subscribes nothing and the store saves nothing),
// and the SUBACK's reason for it becomes 0x97, quota exceeded (MQTT 3.1.1
// keeps mochi's 0x80).
type subQuota struct {
	max int

	mu      sync.Mutex
	refused map[*mochi.Client]refusedFilters // until the SUBACK is encoded
}

type refusedFilters struct {
	packetID uint16
	index    []int
}

// quotaFilter stands in for a refused filter: mochi finds it invalid.
const quotaFilter = ""

func newSubQuota(max int) *subQuota {
	return &subQuota{max: max, refused: map[*mochi.Client]refusedFilters{}}
}

// OnSubscribe refuses the new filters of pk past the bound.
func (h *gateHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	pk = h.refuseInvalidFilters(cl, pk)
	q := h.subs
	n := cl.State.Subscriptions.Len()
	var refused []int
	for i, f := range pk.Filters {
		if f.Filter == quotaFilter { // invalid: refused already
			continue
		}
		if _, ok := cl.State.Subscriptions.Get(f.Filter); ok {
			continue
		}
		if n >= q.max {
			refused = append(refused, i)
			continue
		}
		n++
	}
	if len(refused) == 0 {
		return pk
	}
	filters := append(packets.Subscriptions(nil), pk.Filters...)
	for _, i := range refused {
		filters[i].Filter = quotaFilter
	}
	pk.Filters = filters
	h.log.Info("subscriptions refused: mqtt.max_subscriptions reached", "client", cl.ID,
		"user", string(cl.Properties.Username), "refused", len(refused), "limit", q.max)
	if cl.Properties.ProtocolVersion == 5 {
		q.mu.Lock()
		q.refused[cl] = refusedFilters{packetID: pk.PacketID, index: refused}
		q.mu.Unlock()
	}
	return pk
}

// suback gives the refused filters of an MQTT 5 SUBACK reason 0x97.
func (q *subQuota) suback(cl *mochi.Client, pk packets.Packet) packets.Packet {
	q.mu.Lock()
	r, ok := q.refused[cl]
	if ok && r.packetID == pk.PacketID {
		delete(q.refused, cl)
	}
	q.mu.Unlock()
	if !ok || r.packetID != pk.PacketID {
		return pk
	}
	codes := append([]byte(nil), pk.ReasonCodes...)
	for _, i := range r.index {
		if i < len(codes) {
			codes[i] = packets.ErrQuotaExceeded.Code
		}
	}
	pk.ReasonCodes = codes
	return pk
}

// forget drops what is kept for cl (its connection ended).
func (q *subQuota) forget(cl *mochi.Client) {
	q.mu.Lock()
	delete(q.refused, cl)
	q.mu.Unlock()
}
