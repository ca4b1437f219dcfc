package mqtt

import (
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// wireHook mends what mochi v2.7.9 puts on the wire against the MQTT 5.0
// and 3.1.1 standards (each rule is tested in wire_*_test.go, named after
// the statement).
type wireHook struct {
	mochi.HookBase
	srv          *mochi.Server // for CONNACK and DISCONNECT, and $SYS figures
	maxKeepalive time.Duration // Config.MaxKeepalive
	flow         *flowCtl      // its QoS 0 drop count is $SYS dropped
	refused      *atomic.Int64 // the CONNECTs refused (gateHook's count)
	held         heldBack
	packetIDs    *clientPacketIDs // the client's Packet Identifiers kept apart from the server's (pktid.go)
	pubrel       pubrelQuota      // the client's QoS 2 messages kept out of the send quota (receivemax.go)
}

var _ mochi.Hook = (*wireHook)(nil)

func (h *wireHook) ID() string { return "mqttgate-wire" }

func (h *wireHook) Provides(b byte) bool {
	switch b {
	case mochi.OnPacketEncode, mochi.OnConnect, mochi.OnPacketRead, mochi.OnDisconnect, mochi.OnSubscribed,
		mochi.OnPublishDropped, mochi.OnQosComplete, mochi.OnPacketProcessed:
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

// OnConnect checks what mochi's CONNECT validation misses and sets the
// Server Keep Alive. It runs after mochi has parsed the CONNECT and before
// authentication.
func (h *wireHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	if !pk.Connect.WillFlag && pk.Connect.WillQos != 0 {
		// [MQTT-3.1.2-11] (mochi checks Will Retain, [MQTT-3.1.2-13], but
		// not Will QoS: packets.go:492).
		code := packets.ErrProtocolViolation
		code.Reason = "will qos set without will flag"
		h.refused.Add(1)
		_ = h.srv.SendConnack(cl, code, false, nil) // 3.1.1: dropped by OnPacketEncode
		return code
	}
	if pc, ok := cl.Net.Conn.(*prefixConn); ok && cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.TopicAliasMaximum > 0 {
		// Read before gateHook turns mochi's aliases off (alias.go).
		pc.useAliases(newOutAliases(cl.Properties.Props.TopicAliasMaximum, cl.Properties.Props.MaximumPacketSize))
	}
	if cl.Properties.ProtocolVersion == 5 {
		// [MQTT-3.2.2-21]: the client uses the Server Keep Alive; mochi
		// sends it (server.go:616) and enforces 1.5 times it
		// (clients.go:265) from cl.State.
		limit := uint16(h.maxKeepalive / time.Second)
		if ka := cl.State.Keepalive; ka == 0 || ka > limit {
			cl.State.Keepalive, cl.State.ServerKeepalive = limit, true
		}
	}
	return nil
}

// OnPacketRead refuses a PINGREQ with a body (section 3.12: it has none;
// mochi ignores the bytes, clients.go:509): a malformed packet closes the
// connection [MQTT-4.13.1-1], after DISCONNECT 0x81 for MQTT 5.
func (h *wireHook) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.held.restore(cl, h.srv)
	if pk.FixedHeader.Type == packets.Pingreq && pk.FixedHeader.Remaining != 0 {
		code := packets.ErrMalformedPacket
		code.Reason = "pingreq with a body"
		_ = h.srv.DisconnectClient(cl, code) // 3.1.1: the DISCONNECT is dropped by OnPacketEncode
		return pk, code
	}
	if sharedNoLocal(pk) {
		code := packets.ErrProtocolViolationInvalidSharedNoLocal
		_ = h.srv.DisconnectClient(cl, code)
		return pk, code
	}
	pk = h.packetIDs.read(cl, pk)
	h.pubrel.before(cl, pk)
	return pk, nil
}

// OnPacketProcessed ends what read started for the packet.
func (h *wireHook) OnPacketProcessed(cl *mochi.Client, _ packets.Packet, _ error) {
	h.packetIDs.processed(cl)
}

// OnSubscribed gives retained messages sent on subscribe their
// subscription's identifier (subid.go).
func (h *wireHook) OnSubscribed(_ *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	retainedSubIDs(pk, reasonCodes)
}

// OnQosComplete sends the next message held back by the client's Receive
// Maximum (receivemax.go).
func (h *wireHook) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if pk.FixedHeader.Type == packets.Pubrel {
		h.pubrel.after(cl)
		return
	}
	sendHeld(cl, pk)
}

// OnDisconnect keeps the held-back messages in the session.
func (h *wireHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.held.restore(cl, h.srv)
	h.packetIDs.ended(cl, expire)
	h.pubrel.after(cl) // settles a debt the ended exchange left
}

// OnPacketEncode runs on every packet just before it is written.
func (h *wireHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if cl.Properties.ProtocolVersion < 5 && v5Only(pk) {
		return unsent(pk)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		// Section 3.2.2.3.6: without it a client may assume no limit and
		// learn max_packet_size by being disconnected (mochi's SendConnack,
		// server.go:607-662, never sets it).
		if pk.ReasonCode == 0 && cl.Properties.ProtocolVersion == 5 {
			pk.Properties.MaximumPacketSize = h.srv.Options.Capabilities.MaximumPacketSize
		}
		if pk.ReasonCode == 0 && pk.SessionPresent {
			h.taken(cl)
		}
	case packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Suback, packets.Unsuback:
		return ackProps(h.packetIDs.encode(cl, pk))
	case packets.Publish:
		h.held.noteSent(cl, pk)
		// [MQTT-3.1.2-29] forbids problem information on packets other
		// than PUBLISH, CONNACK and DISCONNECT; mochi also strips the
		// message's own User Properties from PUBLISH (properties.go:326).
		pk.Mods.DisallowProblemInfo = false
	}
	return pk
}

// taken runs as the CONNACK with Session Present is encoded: after mochi
// moved the session to cl (server.go:457), before it resends the
// session's messages and before the client (or a test) learns it is
// connected. It drops stale answers, and marks a session brought back at
// max_inflight as congested: its flow state was the old connection's, and
// waiting for OnSessionEstablished let a publish in past the bound.
func (h *wireHook) taken(cl *mochi.Client) {
	dropStaleAcks(cl, h.srv)
	h.flow.queued(cl)
}

// dropStaleAcks removes from a session just taken over the answers the
// server built to the client's own messages, a PUBACK or a PUBCOMP. mochi
// keeps each in the session from just before writing it to just after
// (server.go:946-957, :1210-1219), so a takeover in that moment copies it
// (server.go:574), the reconnect sends it again (server.go:468), where it
// acknowledges whatever the client has numbered alike since, and nothing
// removes it after. The server resends PUBLISH and PUBREL only
// [MQTT-4.4.0-1].
func dropStaleAcks(cl *mochi.Client, srv *mochi.Server) {
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if t := pk.FixedHeader.Type; t == packets.Puback || t == packets.Pubcomp {
			if cl.State.Inflight.Delete(pk.PacketID) {
				atomic.AddInt64(&srv.Info.Inflight, -1)
			}
		}
	}
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

// v5Only reports whether pk cannot go to an MQTT 3.1.1 client: a server
// DISCONNECT (3.1.1 has none: the server closes the connection,
// [MQTT-3.14]; mochi sends one on a session take-over, server.go:564, and
// on a receive quota overflow, server.go:864), or a CONNACK with a code
// 3.1.1 lacks (mochi passes 0x82 and others through, server.go:622).
func v5Only(pk packets.Packet) bool {
	switch pk.FixedHeader.Type {
	case packets.Disconnect:
		return true
	case packets.Connack:
		return pk.ReasonCode > packets.Err3NotAuthorized.Code
	}
	return false
}

// unsent turns pk into a packet mochi's WritePacket refuses to encode
// (clients.go:592), so nothing is written; the caller then closes the
// connection as it would have after sending pk. OnPacketEncode cannot
// otherwise drop a packet.
func unsent(pk packets.Packet) packets.Packet {
	pk.FixedHeader.Type = packets.Reserved
	return pk
}
