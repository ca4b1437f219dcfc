package mqtt

import (
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wireHook mends what mochi v2.7.9 puts on the wire against the MQTT 5.0
// and 3.1.1 standards (each rule is tested in wire_*_test.go, named after
// the statement). It holds no state of its own.
type wireHook struct {
	mochi.HookBase
	b *Broker
}

var _ mochi.Hook = (*wireHook)(nil)

func (h *wireHook) ID() string { return "mqttgate-wire" }

func (h *wireHook) Provides(b byte) bool {
	switch b {
	case mochi.OnPacketEncode:
		return true
	}
	return false
}

// wireCaps sets the capabilities the standard asks for.
func wireCaps(caps *mochi.Capabilities) {
	// mochi gives every message without a Message Expiry Interval this
	// one (server.go:888, :995) and sends it to subscribers
	// (clients.go:540): [MQTT-3.3.2-6] forwards an expiry only when the
	// publisher set one. 0 also stops mochi deleting retained messages
	// and session messages a day old (server.go:1723, clients.go:349).
	caps.MaximumMessageExpiryInterval = 0
}

// OnPacketEncode runs on every packet just before it is written.
func (h *wireHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Suback, packets.Unsuback:
		return ackProps(pk)
	case packets.Publish:
		// [MQTT-3.1.2-29] forbids problem information on packets other
		// than PUBLISH, CONNACK and DISCONNECT; mochi also strips the
		// message's own User Properties from PUBLISH (properties.go:326).
		pk.Mods.DisallowProblemInfo = false
	}
	return pk
}

// ackProps makes an acknowledgement what the standard asks for: success
// is 0x00 for PUBACK and PUBREC (mochi sends its "granted QoS" code, 0x01
// or 0x02, server.go:942, which sections 3.4.2.1 and 3.5.2.1 do not
// have); an ack carries no User Properties (mochi copies the PUBLISH's or
// SUBSCRIBE's, server.go:1137, :1290, :1347) and a Reason String only when it
// refuses.
func ackProps(pk packets.Packet) packets.Packet {
	if (pk.FixedHeader.Type == packets.Puback || pk.FixedHeader.Type == packets.Pubrec) &&
		(pk.ReasonCode == packets.CodeGrantedQos1.Code || pk.ReasonCode == packets.CodeGrantedQos2.Code) {
		pk.ReasonCode = packets.CodeSuccess.Code
	}
	pk.Properties.User = nil
	failed := pk.ReasonCode >= packets.ErrUnspecifiedError.Code
	if pk.FixedHeader.Type == packets.Suback || pk.FixedHeader.Type == packets.Unsuback {
		failed = false
		for _, c := range pk.ReasonCodes {
			failed = failed || c >= packets.ErrUnspecifiedError.Code
		}
	}
	if !failed {
		pk.Properties.ReasonString = ""
	}
	// Only the fields an ack may carry stay (the PUBLISH's were copied).
	pk.Properties = packets.Properties{ReasonString: pk.Properties.ReasonString}
	return pk
}
