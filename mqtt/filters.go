package mqtt

import (
	"slices"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/topics"
)

// Topic filters are checked by the topics package, where mochi's own
// checks fall short.

// refuseInvalidFilters (called by OnSubscribe) refuses the filters that are not valid [MQTT-4.7.1-2]
// [MQTT-4.7.1-3] [MQTT-4.8.2-1] [MQTT-4.8.2-2]. mochi refuses a misplaced
// '#' but grants a+/b and a/b#; such a filter is handed on empty, which
// mochi answers with SUBACK 0x8F (Topic Filter invalid) on MQTT 5 and
// 0x80 (Failure) on 3.1.1, and neither records nor persists.
func (h *gateHook) refuseInvalidFilters(cl *mochi.Client, pk packets.Packet) packets.Packet {
	bad := slices.IndexFunc(pk.Filters, func(s packets.Subscription) bool { return !topics.ValidFilter(s.Filter) })
	if bad < 0 {
		return pk
	}
	pk.Filters = slices.Clone(pk.Filters)
	for i := bad; i < len(pk.Filters); i++ {
		if err := topics.CheckFilter(pk.Filters[i].Filter); err != nil {
			h.log.Info("subscription refused", "client", cl.ID, "user", string(cl.Properties.Username),
				"filter", quote(pk.Filters[i].Filter), "reason", err.Error())
			pk.Filters[i].Filter = ""
		}
	}
	return pk
}

// dropDollarShared (called by OnSelectSubscribers) drops the shared subscriptions whose filter does not
// match a topic starting with '$': mochi's index applies the '$' rule
// [MQTT-4.7.2-1] to ordinary subscriptions only, so $share/g/# would
// receive $SYS topics. mochi calls it only when some shared subscription
// matched; it takes $share case-insensitively, so the filter proper is
// whatever follows the first two levels.
func dropDollarShared(subs *mochi.Subscribers, pk packets.Packet) *mochi.Subscribers {
	if pk.TopicName == "" || pk.TopicName[0] != '$' {
		return subs
	}
	for shared := range subs.Shared {
		_, rest, _ := strings.Cut(shared, "/")
		_, filter, _ := strings.Cut(rest, "/")
		if !topics.Match(filter, pk.TopicName) {
			delete(subs.Shared, shared)
		}
	}
	return subs
}
