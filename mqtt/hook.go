package mqtt

import (
	"errors"
	"net"
	"net/netip"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"
)

// gateHook is the broker's policy: authentication at CONNECT, access rules
// on subscribe, delivery and publish, and the Intercept callbacks.
type gateHook struct {
	mochi.HookBase
	b *Broker
}

var _ mochi.Hook = (*gateHook)(nil)

func (h *gateHook) ID() string { return "mqttgate" }

// Provides is asked by mochi at every hook call (a switch: no allocation).
func (h *gateHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish, mochi.OnPacketEncode,
		mochi.OnDisconnect, mochi.OnClientExpired, mochi.OnAuthPacket,
		mochi.OnQosPublish, mochi.OnQosComplete, mochi.OnQosDropped, mochi.OnPublishDropped:
		return true
	}
	return false
}

// remoteAddr returns the client's IP address (the zero Addr if unknown).
func remoteAddr(cl *mochi.Client) netip.Addr {
	if ap, err := netip.ParseAddrPort(cl.Net.Remote); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(cl.Net.Remote); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// refuse sends the one CONNACK refusing cl and closes the connection;
// mochi's own failure CONNACK then finds the connection closed.
func (h *gateHook) refuse(cl *mochi.Client, code packets.Code, reason string, logIt bool) bool {
	h.b.m.refused.Add(1)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if cl.Properties.ProtocolVersion < 5 {
		switch code {
		case packets.ErrServerShuttingDown, packets.ErrServerUnavailable:
			ack.ReasonCode = packets.Err3ServerUnavailable.Code
		case packets.ErrClientIdentifierNotValid:
			ack.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
		default:
			ack.ReasonCode = packets.Err3NotAuthorized.Code
		}
	}
	if cl.Net.Conn != nil { // an in-band timeout has expired the deadline
		_ = cl.Net.Conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	_ = cl.WritePacket(ack)
	cl.Stop(code)
	attrs := []any{"client", cl.ID, "user", string(cl.Properties.Username), "addr", cl.Net.Remote,
		"listener", cl.Net.Listener, "code", ack.ReasonCode, "reason", reason}
	if logIt {
		h.b.log.Info("connection refused", attrs...)
	} else {
		h.b.log.Debug("connection refused", attrs...)
	}
	return false
}

// OnConnectAuthenticate decides whether a CONNECT may proceed.
func (h *gateHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	b := h.b
	if b.closing.Load() {
		return h.refuse(cl, packets.ErrServerShuttingDown, "server shutting down", false)
	}
	addr := remoteAddr(cl)
	if d, blocked := b.logins.Blocked(addr); blocked {
		return h.refuse(cl, packets.ErrNotAuthorized, "address blocked for "+d.Round(time.Second).String(), true)
	}
	username := string(pk.Connect.Username)
	method := pk.Properties.AuthenticationMethod
	var (
		u   login.User
		err error
	)
	switch {
	case cl.Properties.ProtocolVersion == 5 && method != "":
		if method != chap1 {
			return h.refuse(cl, packets.ErrBadAuthenticationMethod, "unknown authentication method "+quote(method), true)
		}
		u, err = h.inBand(cl, pk, addr)
		if err != nil {
			var code packets.Code
			if errors.As(err, &code) {
				return h.refuse(cl, code, err.Error(), true)
			}
			return h.refuse(cl, packets.ErrNotAuthorized, err.Error(), false)
		}
	case username == "" && !pk.Connect.PasswordFlag:
		if !b.cfg.AllowAnonymous {
			return h.refuse(cl, packets.ErrNotAuthorized, "anonymous clients not allowed", true)
		}
		u = login.User{Role: b.cfg.AnonymousRole}
	default:
		allowPlain := cl.Net.Listener != ListenerWS || b.cfg.PlainOnWebSocket
		u, err = b.logins.CheckPassword(username, pk.Connect.ClientIdentifier, string(pk.Connect.Password), addr, allowPlain)
		if err != nil {
			return h.refuse(cl, packets.ErrNotAuthorized, err.Error(), false)
		}
	}
	role, ok := (*b.roles.Load())[u.Role]
	if !ok {
		return h.refuse(cl, packets.ErrNotAuthorized, "user's role "+quote(u.Role)+" is not defined; add it under roles", true)
	}
	acc := newAccess(u.Role, role, u.Name, cl.ID)
	if pk.Connect.WillFlag && !acc.canWrite(pk.Connect.WillTopic) {
		return h.refuse(cl, packets.ErrNotAuthorized, "will topic "+quote(pk.Connect.WillTopic)+" not writable by role "+u.Role, true)
	}
	// No mochi outbound topic aliases: a message re-queued after a full
	// write queue could otherwise reach the client after the alias-only
	// messages that rely on it. They are set on the wire instead (alias.go).
	cl.Properties.Props.TopicAliasMaximum = 0
	b.setAccess(cl, acc)
	b.m.accepted.Add(1)
	return true
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}

// OnACLCheck allows subscriptions and deliveries by the client's read
// rules. Publishes pass here and are checked in OnPublish, which can
// refuse them the MQTT 5 way without disconnecting the client.
func (h *gateHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if write {
		return true
	}
	acc := h.b.accessOf(cl)
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
	b := h.b
	acc := b.accessOf(cl)
	if acc == nil || !acc.canWrite(pk.TopicName) {
		b.m.deniedPublish.Add(1)
		role := ""
		if acc != nil {
			role = acc.role
		}
		b.log.Info("publish denied", "client", cl.ID, "user", string(cl.Properties.Username), "role", role,
			"topic", pk.TopicName, "qos", pk.FixedHeader.Qos)
		return pk, h.refusePublish(cl, pk, packets.ErrNotAuthorized)
	}
	if pk.FixedHeader.Qos > 0 && !b.flow.admit(cl, pk.TopicName, true) {
		return pk, h.refuseQuota(cl, pk)
	}
	if err := b.intercept(cl.ID, pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos); err != nil {
		b.m.intercepted.Add(1)
		b.log.Warn("publish refused by interceptor", "client", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos, "err", err)
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
	if err := b.route(cl, pk); err != nil {
		b.log.Warn("publish not routed; not acknowledged", "client", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, packets.CodeSuccessIgnore
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
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion < 5 &&
		pk.ReasonCode == packets.ErrUnspecifiedError.Code && !cl.Properties.Clean {
		pk.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
		return pk
	}
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 || cl.Properties.ProtocolVersion != 5 {
		return pk
	}
	acc := h.b.accessOf(cl)
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

// OnAuthPacket refuses MQTT 5 re-authentication, which chap1 does not have.
func (h *gateHook) OnAuthPacket(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	return pk, packets.ErrNotAuthorized
}

func (h *gateHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.b.sessionEnded(cl, expire)
	h.b.flow.ended(cl, expire)
}

func (h *gateHook) OnClientExpired(cl *mochi.Client) {
	h.b.dropAccess(cl)
	h.b.flow.ended(cl, true)
}

// OnQosPublish, OnQosComplete, OnQosDropped and OnPublishDropped feed the
// flow control (flow.go).
func (h *gateHook) OnQosPublish(cl *mochi.Client, _ packets.Packet, _ int64, _ int) {
	h.b.flow.queued(cl)
}
func (h *gateHook) OnQosComplete(cl *mochi.Client, _ packets.Packet)     { h.b.flow.completed(cl) }
func (h *gateHook) OnQosDropped(cl *mochi.Client, _ packets.Packet)      { h.b.flow.completed(cl) }
func (h *gateHook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) { h.b.flow.dropped(cl, pk) }
