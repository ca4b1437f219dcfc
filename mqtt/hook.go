package mqtt

import (
	"log/slog"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"
)

// gateHook is the broker's policy: authentication at CONNECT (auth.go,
// inband.go), access rules on subscribe, delivery and publish, the flow
// gate and the Intercept callbacks before a publish is acknowledged.
type gateHook struct {
	mochi.HookBase
	cfg        Config // the login and anonymous settings
	log        *slog.Logger
	logins     *login.Service
	access     *accessTable
	clients    *mochi.Clients // who holds each client id (owner.go)
	subs       *subQuota      // max_subscriptions (subs.go)
	flow       *flowCtl       // the gate before a QoS 1/2 acknowledgement
	intercepts *interceptors
	local      *inlineClients // routes QoS 1/2 before the acknowledgement
	requests   *responders    // request topics served by the gateway (respond.go)
	closing    *atomic.Bool   // set when the broker shuts down

	m counters // CONNECTs and publishes decided here (metrics.go)
}

var _ mochi.Hook = (*gateHook)(nil)

func (h *gateHook) ID() string { return "mqttgate" }

// Provides is asked by mochi at every hook call (a switch: no allocation).
func (h *gateHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish, mochi.OnPacketEncode,
		mochi.OnDisconnect, mochi.OnClientExpired, mochi.OnAuthPacket, mochi.OnSelectSubscribers,
		mochi.OnSubscribe:
		return true
	}
	return false
}

// OnACLCheck allows subscriptions and deliveries by the client's read
// rules. Publishes pass here and are checked in OnPublish, which can
// refuse them the MQTT 5 way without disconnecting the client.
func (h *gateHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if write {
		return true
	}
	if ownReply(cl, topic) {
		return true
	}
	acc := h.access.of(cl)
	if acc == nil {
		return false
	}
	return acc.canRead(topic)
}

// OnPublish applies the write rules and the Intercept callbacks.
func (h *gateHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // Broker.Publish ran the intercepts already
	}
	if fn, ok := h.requests.lookup(pk.TopicName); ok {
		h.answer(cl, pk, fn)
		return pk, packets.CodeSuccessIgnore // acknowledged, not delivered
	}
	acc := h.access.of(cl)
	if acc == nil || !acc.canWrite(pk.TopicName) {
		h.m.deniedPublish.Add(1)
		role := ""
		if acc != nil {
			role = acc.role
		}
		h.log.Info("publish denied", "client", cl.ID, "user", string(cl.Properties.Username), "role", role,
			"topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
		return pk, h.refusePublish(cl, pk, packets.ErrNotAuthorized)
	}
	if pk.FixedHeader.Qos > 0 && !h.flow.admit(cl, pk.TopicName, true) {
		return pk, h.refuseQuota(cl, pk)
	}
	if err := h.intercepts.run(cl.ID, pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos); err != nil {
		h.m.intercepted.Add(1)
		h.log.Warn("publish refused by interceptor", "client", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "err", err)
		if pk.FixedHeader.Qos > 0 && cl.Properties.ProtocolVersion < 5 {
			// MQTT 3 has no refusal code: an acknowledgement would lose the
			// message, so the publisher is disconnected without one and
			// sends it again after reconnecting.
			cl.Stop(packets.ErrImplementationSpecificError)
			return pk, packets.ErrRejectPacket
		}
		code := packets.ErrImplementationSpecificError
		code.Reason = err.Error()
		return pk, h.refusePublish(cl, pk, code)
	}
	if pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	// QoS 1/2: route now, before mochi writes the PUBACK/PUBREC, so that
	// every subscriber session holds the message (and, with sync_interval
	// 0, the store has committed it) when the publisher learns it was
	// accepted. mochi then acknowledges without routing it again.
	if err := h.local.route(cl, pk); err != nil {
		h.log.Warn("publish not routed; not acknowledged", "client", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, packets.CodeSuccessIgnore
}

// refuseQuota refuses a publish at the bound: MQTT 5 gets PUBACK/PUBREC 0x97
// (quota exceeded); an MQTT 3 publisher, which has no such code, is
// disconnected without an acknowledgement, so it keeps the message and
// sends it again after reconnecting.
func (h *gateHook) refuseQuota(cl *mochi.Client, pk packets.Packet) error {
	h.flow.note(cl, "publish refused: a subscriber's backlog is at mqtt.max_inflight")
	if cl.Properties.ProtocolVersion == 5 {
		return h.refusePublish(cl, pk, packets.ErrQuotaExceeded)
	}
	cl.Stop(packets.ErrQuotaExceeded)
	return packets.ErrRejectPacket
}

// refusePublish refuses a publish: an MQTT 5 QoS 1/2 publisher gets a
// PUBACK/PUBREC with the reason code; an MQTT 3 publisher is acknowledged
// and the message dropped (as Mosquitto does); QoS 0 is dropped.
func (h *gateHook) refusePublish(cl *mochi.Client, pk packets.Packet, code packets.Code) error {
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	if cl.Properties.ProtocolVersion < 5 {
		return packets.CodeSuccessIgnore
	}
	t := byte(packets.Puback)
	if pk.FixedHeader.Qos == 2 {
		t = packets.Pubrec
	}
	_ = cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: t},
		PacketID:    pk.PacketID,
		ReasonCode:  code.Code,
		Properties:  packets.Properties{ReasonString: code.Reason},
	})
	return packets.ErrRejectPacket
}

// OnPacketEncode adds the role, the write filters and the authentication
// method to a successful MQTT 5 CONNACK.
//
// It also mends one CONNACK of mochi's: an MQTT 3.1.1 CONNECT with an empty
// client id and clean session 0 is refused with 0x80, which 3.1.1 does not
// have; [MQTT-3.1.3-8] asks for return code 2 (identifier rejected).
func (h *gateHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Suback && cl.Properties.ProtocolVersion == 5 {
		return h.subs.suback(cl, pk)
	}
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion < 5 &&
		pk.ReasonCode == packets.ErrUnspecifiedError.Code && !cl.Properties.Clean {
		pk.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
		return pk
	}
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 || cl.Properties.ProtocolVersion != 5 {
		return pk
	}
	acc := h.access.of(cl)
	if acc == nil {
		return pk
	}
	pk.Properties.User = append(pk.Properties.User,
		packets.UserProperty{Key: "role", Val: acc.role},
		packets.UserProperty{Key: "write", Val: acc.writeJSON})
	if cl.Properties.Props.AuthenticationMethod == chap1 {
		pk.Properties.AuthenticationMethod = chap1
	}
	return pk
}

func (h *gateHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.subs.forget(cl)
	h.access.sessionEnded(cl, expire)
}

func (h *gateHook) OnClientExpired(cl *mochi.Client) { h.access.drop(cl) }
