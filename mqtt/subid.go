package mqtt

import (
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Subscription Identifiers on retained messages sent on subscribe
// [MQTT-3.3.4-3]. mochi puts on a delivery the identifiers of the
// subscription's Identifiers map (server.go:1037), which only its topic
// index fills when it merges the matching subscriptions for a live
// message (packets.go:254); the subscription it hands to the retained
// delivery (server.go:1309) comes straight from the SUBSCRIBE and has
// none. OnSubscribed runs after the subscriptions are stored and before
// the retained messages are sent (server.go:1298), and shares the
// SUBSCRIBE's Filters array with that loop: the map is set there, on the
// packet only, never on the stored subscription (whose map mochi's Merge
// would then write to from concurrent deliveries).
func retainedSubIDs(pk packets.Packet, reasonCodes []byte) {
	for i := range pk.Filters {
		f := &pk.Filters[i]
		if f.Identifier > 0 && f.Identifiers == nil && i < len(reasonCodes) && reasonCodes[i] < packets.ErrUnspecifiedError.Code {
			f.Identifiers = map[string]int{f.Filter: f.Identifier}
		}
	}
}

// sharedNoLocal reports whether a SUBSCRIBE sets No Local on a shared
// subscription, a protocol error [MQTT-3.8.3-4]; mochi answers it with
// SUBACK 0x82 (server.go:1257), which is not a SUBACK reason code.
func sharedNoLocal(pk packets.Packet) bool {
	if pk.FixedHeader.Type != packets.Subscribe {
		return false
	}
	for _, f := range pk.Filters {
		if f.NoLocal && mochi.IsSharedFilter(f.Filter) {
			return true
		}
	}
	return false
}
