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

// The gate hook at CONNECT: who may log in, how, and with which rules
// (see "Logins" in doc.go). The in-band chap1 exchange is in inband.go.

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
	h.m.refused.Add(1)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if cl.Properties.ProtocolVersion < 5 {
		switch code.Code {
		case packets.ErrServerShuttingDown.Code, packets.ErrServerUnavailable.Code, packets.ErrServerBusy.Code:
			ack.ReasonCode = packets.Err3ServerUnavailable.Code
		case packets.ErrClientIdentifierNotValid.Code:
			ack.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
		default:
			ack.ReasonCode = packets.Err3NotAuthorized.Code
		}
	} else if code.Code == packets.ErrConnectionRateExceeded.Code || code.Code == packets.ErrServerBusy.Code {
		ack.Properties.ReasonString = code.Reason // why, and when to come back
	}
	if cl.Net.Conn != nil { // an in-band timeout has expired the deadline
		_ = cl.Net.Conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	_ = cl.WritePacket(ack)
	cl.Stop(code)
	attrs := []any{"client", cl.ID, "user", string(cl.Properties.Username), "addr", cl.Net.Remote,
		"listener", cl.Net.Listener, "code", ack.ReasonCode, "reason", reason}
	if logIt {
		h.log.Info("connection refused", attrs...)
	} else {
		h.log.Debug("connection refused", attrs...)
	}
	return false
}

// OnConnectAuthenticate decides whether a CONNECT may proceed.
func (h *gateHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if h.closing.Load() {
		return h.refuse(cl, packets.ErrServerShuttingDown, "server shutting down", false)
	}
	addr := remoteAddr(cl)
	if d, blocked := h.logins.Blocked(addr); blocked {
		return h.refuseLogin(cl, &login.BlockedError{RetryAfter: d, Address: true})
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
			return h.refuseLogin(cl, err)
		}
	case username == "" && !pk.Connect.PasswordFlag:
		if !h.cfg.AllowAnonymous {
			return h.refuse(cl, packets.ErrNotAuthorized, "anonymous clients not allowed", true)
		}
		u = login.User{Role: h.cfg.AnonymousRole}
	default:
		allowPlain := cl.Net.Listener != ListenerWS || h.cfg.PlainOnWebSocket
		u, err = h.logins.CheckPassword(username, pk.Connect.ClientIdentifier, string(pk.Connect.Password), addr, allowPlain)
		if err != nil {
			return h.refuseLogin(cl, err)
		}
	}
	role, ok := h.access.role(u.Role)
	if !ok {
		return h.refuse(cl, packets.ErrNotAuthorized, "user's role "+quote(u.Role)+" is not defined; add it under roles", true)
	}
	if why := h.ownerRefusal(cl, u.Name); why != "" {
		return h.refuse(cl, packets.ErrNotAuthorized, why, true)
	}
	acc := newAccess(u.Role, role, u.Name, cl.ID)
	if pk.Connect.WillFlag && !acc.canWrite(pk.Connect.WillTopic) {
		return h.refuse(cl, packets.ErrNotAuthorized, "will topic "+quote(pk.Connect.WillTopic)+" not writable by role "+u.Role, true)
	}
	// No mochi outbound topic aliases: a message re-queued after a full
	// write queue could otherwise reach the client after the alias-only
	// messages that rely on it. They are set on the wire instead (alias.go).
	cl.Properties.Props.TopicAliasMaximum = 0
	h.access.set(cl, acc)
	if pc, ok := cl.Net.Conn.(*prefixConn); ok && pc.onLogin != nil {
		pc.onLogin()
	}
	h.m.accepted.Add(1)
	return true
}

// refuseLogin refuses a CONNECT whose login failed. A blocked login gets
// MQTT 5 reason 0x9F (connection rate exceeded) and busy password checks
// 0x89 (server busy), each with a Reason String saying why; MQTT 3.1.1
// clients get return code 5 or 3 and the reason goes to the log.
func (h *gateHook) refuseLogin(cl *mochi.Client, err error) bool {
	var be *login.BlockedError
	switch {
	case errors.As(err, &be):
		code := packets.ErrConnectionRateExceeded
		code.Reason = be.Error()
		return h.refuse(cl, code, be.Error(), true)
	case errors.Is(err, login.ErrBusy):
		code := packets.ErrServerBusy
		code.Reason = "too many logins at once; try again"
		return h.refuse(cl, code, err.Error(), true)
	}
	return h.refuse(cl, packets.ErrNotAuthorized, err.Error(), false)
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}

// OnAuthPacket refuses MQTT 5 re-authentication, which chap1 does not have.
func (h *gateHook) OnAuthPacket(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	return pk, packets.ErrNotAuthorized
}
