package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"
)

const chap1 = "chap1"

// inBandChallenge is the Authentication Data of the server's AUTH packet
// (chap1 spec section 5, step 2).
type inBandChallenge struct {
	Nonce      string `json:"nonce"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations"`
}

// inBand runs the chap1 in-band exchange: AUTH (challenge) to the client,
// AUTH (proof) back, within InBandTimeout. A returned packets.Code is the
// CONNACK reason to send; any other error means "not authorized" and has
// been logged and counted by the login service.
func (h *gateHook) inBand(cl *mochi.Client, pk packets.Packet, addr netip.Addr) (login.User, error) {
	username := string(pk.Connect.Username)
	clientID := pk.Connect.ClientIdentifier
	if clientID == "" {
		c := packets.ErrClientIdentifierNotValid
		c.Reason = "chap1 needs a client id"
		return login.User{}, c
	}
	if username == "" || pk.Connect.PasswordFlag || len(pk.Properties.AuthenticationData) > 0 {
		return login.User{}, h.logins.Fail(addr, username, "in-band chap1: CONNECT must carry a username and no password or authentication data")
	}
	ch, err := h.logins.Challenge(username, addr)
	if err != nil {
		var be *login.BlockedError
		if errors.As(err, &be) {
			return login.User{}, err // refused with its reason by refuseLogin
		}
		return login.User{}, fmt.Errorf("in-band chap1: challenge: %w", err)
	}
	data, _ := json.Marshal(inBandChallenge{Nonce: ch.Nonce, Salt: ch.Salt, Iterations: ch.Iterations})
	if conn := cl.Net.Conn; conn != nil {
		_ = conn.SetDeadline(time.Now().Add(h.cfg.InBandTimeout))
	}
	err = cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Auth},
		ReasonCode:  packets.CodeContinueAuthentication.Code,
		Properties:  packets.Properties{AuthenticationMethod: chap1, AuthenticationData: data},
	})
	if err != nil {
		return login.User{}, fmt.Errorf("in-band chap1: send challenge: %w", err)
	}
	proof, reason := readProof(cl)
	if reason != "" {
		return login.User{}, h.logins.Fail(addr, username, "in-band chap1: "+reason)
	}
	u, err := h.logins.VerifyProof(username, clientID, ch.Nonce, proof, addr)
	if err != nil {
		return login.User{}, err
	}
	if conn := cl.Net.Conn; conn != nil {
		var dl time.Time
		if ka := cl.State.Keepalive; ka > 0 {
			dl = time.Now().Add(time.Duration(ka) * 3 / 2 * time.Second)
		}
		_ = conn.SetDeadline(dl)
	}
	return u, nil
}

// readProof reads the client's AUTH answer; reason says what was wrong.
func readProof(cl *mochi.Client) (proof []byte, reason string) {
	fh := new(packets.FixedHeader)
	if err := cl.ReadFixedHeader(fh); err != nil {
		return nil, "no answer: " + err.Error()
	}
	if fh.Type != packets.Auth {
		return nil, fmt.Sprintf("out-of-order packet type %d instead of AUTH", fh.Type)
	}
	ans, err := cl.ReadPacket(fh)
	if err != nil {
		return nil, "malformed AUTH: " + err.Error()
	}
	return checkAnswer(ans)
}

// checkAnswer validates the client's AUTH packet (step 3).
func checkAnswer(ans packets.Packet) ([]byte, string) {
	switch {
	case ans.ReasonCode != packets.CodeContinueAuthentication.Code:
		return nil, fmt.Sprintf("AUTH reason code %#x, want 0x18", ans.ReasonCode)
	case ans.Properties.AuthenticationMethod != chap1:
		return nil, "AUTH with another authentication method"
	case len(ans.Properties.AuthenticationData) != 32:
		return nil, fmt.Sprintf("proof of %d bytes, want 32", len(ans.Properties.AuthenticationData))
	}
	return ans.Properties.AuthenticationData, ""
}
