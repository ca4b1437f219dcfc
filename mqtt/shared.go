package mqtt

import (
	"math/rand/v2"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Shared subscriptions: mochi picks one member of each group at random,
// whether or not it may read the topic, and delivery then fails the access
// check for it: the message is lost for the whole group. The gate picks
// instead among the members that may read the topic, connected ones
// first; a group none of whose members may read it is left out, as if it
// had no subscriber.

// OnSelectSubscribers picks one member of each shared group for pk.
func (h *gateHook) OnSelectSubscribers(subs *mochi.Subscribers, pk packets.Packet) *mochi.Subscribers {
	subs = dropDollarShared(subs, pk)
	selected := make(map[string]packets.Subscription, len(subs.Shared))
	var online, offline []string
	for _, members := range subs.Shared {
		online, offline = online[:0], offline[:0]
		for id := range members {
			cl, ok := h.clients.Get(id)
			if !ok {
				continue
			}
			if acc := h.access.of(cl); acc == nil || !acc.canRead(pk.TopicName) {
				continue
			}
			if cl.Closed() {
				offline = append(offline, id)
			} else {
				online = append(online, id)
			}
		}
		pick := online
		if len(pick) == 0 {
			pick = offline
		}
		if len(pick) == 0 {
			continue
		}
		id := pick[rand.IntN(len(pick))]
		sub := members[id]
		if prev, ok := selected[id]; ok {
			sub = prev.Merge(sub)
		}
		selected[id] = sub
	}
	subs.SharedSelected = selected
	if len(selected) == 0 {
		// mochi would pick members at random again; there are none to pick.
		subs.Shared = map[string]map[string]packets.Subscription{}
	}
	return subs
}
