package mqtt

import (
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The $SYS topics are mochi's (server.go:1443); two of its figures are
// set here so that they say what the gateway's /metrics says.

// sysVersion is $SYS/broker/version: the gateway's, not mochi's.
func sysVersion(version string) string {
	if version == "" {
		return "mqttgate"
	}
	return "mqttgate " + version
}

// OnPublishDropped runs after the flow control (gateHook) has handled a
// delivery mochi could not queue; mochi counts every one as dropped
// (server.go:1104), but the flow control waits for room and sends a QoS 0
// message, or keeps a QoS 1/2 one in the session. $SYS dropped is set to
// what /metrics counts as dropped (QoS 0 deliveries dropped).
func (h *wireHook) OnPublishDropped(_ *mochi.Client, _ packets.Packet) {
	atomic.StoreInt64(&h.srv.Info.MessagesDropped, h.flow.dropped0.Load())
}
