package mqtt

import (
	"encoding/base64"
	"encoding/json"
	"mqttgate/gatetest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"
)

func TestPlainPassword(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	c := mustConnect(t, e.addr(), "c1", "admin")
	if !c.IsConnected() {
		t.Fatal("not connected")
	}
	// MQTT 3.1.1: return code 5.
	_, err := pahoConnect(e.addr(), "c2", "admin", "wrong", nil...)
	if err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("bad password: err = %v, want not authorized (5)", err)
	}
	for _, v := range []byte{4, 3} {
		r := dialRaw(t, e.addr())
		r.Send(connectPacket("c3", "admin", "wrong", v))
		pk, err := gatetest.ReadPacket(r.R, v)
		if err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 5 {
			t.Fatalf("v%d bad password: %+v %v, want CONNACK 5", v, pk.ReasonCode, err)
		}
		r.ExpectClosed()
	}
	// MQTT 5: 0x87, exactly one CONNACK, then closed.
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("c4", "admin", "wrong", 5))
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x87 {
		t.Fatalf("v5 bad password: reason %#x, want 0x87", pk.ReasonCode)
	}
	r.ExpectClosed()
	// Unknown user.
	r = dialRaw(t, e.addr())
	r.Send(connectPacket("c5", "nobody", "x", 5))
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x87 {
		t.Fatalf("unknown user: reason %#x, want 0x87", pk.ReasonCode)
	}
}

func TestConnackProperties(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("dev-a", "dev1", "pw-dev1", 5))
	pk := r.MustRecv(packets.Connack)
	if pk.ReasonCode != 0 {
		t.Fatalf("reason %#x", pk.ReasonCode)
	}
	if got := userProp(pk, "role"); got != "device" {
		t.Errorf("role = %q, want device", got)
	}
	var w []string
	if err := json.Unmarshal([]byte(userProp(pk, "write")), &w); err != nil || len(w) != 1 || w[0] != "devices/dev1/#" {
		t.Errorf("write = %q (%v), want [\"devices/dev1/#\"]", userProp(pk, "write"), err)
	}
	r = dialRaw(t, e.addr())
	r.Send(connectPacket("v", "view", "pw-view", 5))
	if got := userProp(r.MustRecv(packets.Connack), "write"); got != "[]" {
		t.Errorf("viewer write = %q, want []", got)
	}
}

func TestAnonymous(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	if _, err := pahoConnect(e.addr(), "anon", "", ""); err == nil {
		t.Fatal("anonymous accepted while allow_anonymous is false")
	}
	cfg := testConfig(t.TempDir())
	cfg.AllowAnonymous = true
	cfg.AnonymousRole = "viewer"
	e = startBroker(t, cfg, nil)
	c, err := pahoConnect(e.addr(), "anon", "", "")
	if err != nil {
		t.Fatalf("anonymous refused: %v", err)
	}
	defer c.Disconnect(100)
	// viewer may read but not write: v5 raw publish gets 0x87.
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("anon5", "", "", 5))
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0 || userProp(pk, "role") != "viewer" {
		t.Fatalf("anon v5: reason %#x role %q", pk.ReasonCode, userProp(pk, "role"))
	}
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b", PacketID: 1, Payload: []byte("x")})
	if pk := r.MustRecv(packets.Puback); pk.ReasonCode != 0x87 {
		t.Fatalf("anon publish: reason %#x, want 0x87", pk.ReasonCode)
	}
}

// inBand runs CONNECT/AUTH/AUTH against the broker, computing the proof
// from password (or sending proof as given when not nil).
func inBandConnect(t *testing.T, addr, id, user, password string, tamper func([]byte)) (*raw, packets.Packet) {
	t.Helper()
	r := dialRaw(t, addr)
	c := connectPacket(id, user, "", 5)
	c.Properties.AuthenticationMethod = "chap1"
	r.Send(c)
	a := r.MustRecv(packets.Auth)
	if a.ReasonCode != 0x18 || a.Properties.AuthenticationMethod != "chap1" {
		t.Fatalf("challenge AUTH: reason %#x method %q", a.ReasonCode, a.Properties.AuthenticationMethod)
	}
	var ch struct {
		Nonce      string `json:"nonce"`
		Salt       string `json:"salt"`
		Iterations int    `json:"iterations"`
	}
	if err := json.Unmarshal(a.Properties.AuthenticationData, &ch); err != nil || ch.Nonce == "" || ch.Iterations == 0 {
		t.Fatalf("challenge data %q: %v", a.Properties.AuthenticationData, err)
	}
	salt, err := base64.RawURLEncoding.DecodeString(ch.Salt)
	if err != nil {
		t.Fatal(err)
	}
	proof := login.Proof(login.ClientKey(password, salt, ch.Iterations), ch.Nonce, user, id)
	if tamper != nil {
		tamper(proof)
	}
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ReasonCode: 0x18,
		Properties: packets.Properties{AuthenticationMethod: "chap1", AuthenticationData: proof}})
	return r, r.MustRecv(packets.Connack)
}

func TestInBand(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	r, ack := inBandConnect(t, e.addr(), "dash-1", "op", "pw-op", nil)
	if ack.ReasonCode != 0 || ack.Properties.AuthenticationMethod != "chap1" || userProp(ack, "role") != "operator" {
		t.Fatalf("CONNACK reason %#x method %q role %q", ack.ReasonCode, ack.Properties.AuthenticationMethod, userProp(ack, "role"))
	}
	// The session works: publish to an actuator command topic.
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "gw/actuators/led/set", PacketID: 7, Payload: []byte("on")})
	if pk := r.MustRecv(packets.Puback); pk.ReasonCode != 0 || pk.PacketID != 7 {
		t.Fatalf("PUBACK %#x id %d", pk.ReasonCode, pk.PacketID)
	}

	r, ack = inBandConnect(t, e.addr(), "dash-2", "op", "pw-op", func(p []byte) { p[0] ^= 1 })
	if ack.ReasonCode != 0x87 {
		t.Fatalf("wrong proof: reason %#x, want 0x87", ack.ReasonCode)
	}
	r.ExpectClosed()
	_, ack = inBandConnect(t, e.addr(), "dash-3", "op", "not-the-password", nil)
	if ack.ReasonCode != 0x87 {
		t.Fatalf("wrong password: reason %#x, want 0x87", ack.ReasonCode)
	}
}

func TestInBandRefusals(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.InBandTimeout = time.Second
	e := startBroker(t, cfg, nil)

	// Unknown method: 0x8C at once.
	r := dialRaw(t, e.addr())
	c := connectPacket("x1", "op", "", 5)
	c.Properties.AuthenticationMethod = "SCRAM-SHA-1"
	r.Send(c)
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x8C {
		t.Fatalf("unknown method: reason %#x, want 0x8C", pk.ReasonCode)
	}
	r.ExpectClosed()

	// Timeout: no answer to the challenge.
	r = dialRaw(t, e.addr())
	c = connectPacket("x2", "op", "", 5)
	c.Properties.AuthenticationMethod = "chap1"
	r.Send(c)
	r.MustRecv(packets.Auth)
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x87 {
		t.Fatalf("timeout: reason %#x, want 0x87", pk.ReasonCode)
	}
	r.ExpectClosed()

	// Out of order: a PINGREQ instead of AUTH.
	r = dialRaw(t, e.addr())
	c.Connect.ClientIdentifier = "x3"
	r.Send(c)
	r.MustRecv(packets.Auth)
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x87 {
		t.Fatalf("out of order: reason %#x, want 0x87", pk.ReasonCode)
	}
}

func TestBlockedLogin(t *testing.T) {
	dir := t.TempDir()
	logins := newLogins(t, dir, login.Config{MaxFailures: 2, MaxFailedUsers: 3, Block: time.Hour, BlockMax: time.Hour})
	e := startBroker(t, testConfig(dir), logins)
	for i := 0; i < 2; i++ {
		r := dialRaw(t, e.addr())
		r.Send(connectPacket("b", "admin", "wrong", 5))
		r.MustRecv(packets.Connack)
	}
	// Even the right password is refused now, with a reason, and so is
	// in-band chap1 (no challenge is sent).
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("b", "admin", "pw-admin", 5))
	pk := r.MustRecv(packets.Connack)
	if pk.ReasonCode != 0x9F || !strings.Contains(pk.Properties.ReasonString, "too many failed logins for this user") {
		t.Fatalf("blocked: reason %#x %q, want 0x9F with a Reason String", pk.ReasonCode, pk.Properties.ReasonString)
	}
	r = dialRaw(t, e.addr())
	c := connectPacket("b2", "admin", "", 5)
	c.Properties.AuthenticationMethod = "chap1"
	r.Send(c)
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x9F || pk.Properties.ReasonString == "" {
		t.Fatalf("blocked in-band: got type %d reason %#x, want CONNACK 0x9F", pk.FixedHeader.Type, pk.ReasonCode)
	}
	r.ExpectClosed()
	r = dialRaw(t, e.addr())
	r.Send(connectPacket("b3", "admin", "pw-admin", 4))
	r.Version = 4
	if pk, err := r.Recv(); err != nil || pk.ReasonCode != 5 {
		t.Fatalf("blocked 3.1.1: %+v %v, want return code 5", pk.ReasonCode, err)
	}
	// Another user behind the same address is not locked out.
	if _, blocked := logins.Blocked(netip.MustParseAddr("127.0.0.1")); blocked {
		t.Fatal("the whole address is blocked for one user's failures")
	}
	cl := mustConnect(t, e.addr(), "dev-a", "dev1")
	cl.Disconnect(100)
	// Failures with many user names block the address.
	for _, name := range []string{"root", "pi"} {
		r := dialRaw(t, e.addr())
		r.Send(connectPacket("s", name, "guess", 5))
		r.MustRecv(packets.Connack)
	}
	r = dialRaw(t, e.addr())
	r.Send(connectPacket("dev-a", "dev1", "pw-dev1", 5))
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x9F || !strings.Contains(pk.Properties.ReasonString, "different user names") {
		t.Fatalf("spraying address: reason %#x %q, want 0x9F, different user names", pk.ReasonCode, pk.Properties.ReasonString)
	}
}

func TestTwoStep(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	addr := netip.MustParseAddr("127.0.0.1")
	field := func(id string) string {
		ch, err := e.logins.Challenge("view", addr)
		if err != nil {
			t.Fatal(err)
		}
		salt, _ := base64.RawURLEncoding.DecodeString(ch.Salt)
		return login.PasswordField(ch.Nonce, login.Proof(login.ClientKey("pw-view", salt, ch.Iterations), ch.Nonce, "view", id))
	}
	pw := field("dash-1")
	c, err := pahoConnect(e.addr(), "dash-1", "view", pw)
	if err != nil {
		t.Fatalf("two-step: %v", err)
	}
	c.Disconnect(100)
	if _, err := pahoConnect(e.addr(), "dash-1", "view", pw); err == nil {
		t.Fatal("replayed nonce accepted")
	}
	if _, err := pahoConnect(e.addr(), "other-id", "view", field("dash-1")); err == nil {
		t.Fatal("proof for another client id accepted")
	}
}

func TestPlainOnWebSocket(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	// ServeConn is the ws listener: plain passwords are refused there.
	srvSide, cliSide := pipeTCP(t)
	errc := make(chan error, 1)
	go func() { errc <- e.b.ServeConn(srvSide) }()
	r := gatetest.NewRawConn(t, cliSide)
	r.Send(connectPacket("w1", "admin", "pw-admin", 5))
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0x87 {
		t.Fatalf("plain over ws: reason %#x, want 0x87", pk.ReasonCode)
	}
	if err := <-errc; err == nil {
		t.Fatal("ServeConn returned nil for a refused login")
	}
	// chap1 in-band works over ws.
	srvSide, cliSide = pipeTCP(t)
	go func() { errc <- e.b.ServeConn(srvSide) }()
	r = gatetest.NewRawConn(t, cliSide)
	c := connectPacket("w2", "admin", "", 5)
	c.Properties.AuthenticationMethod = "chap1"
	r.Send(c)
	a := r.MustRecv(packets.Auth)
	var ch inBandChallenge
	_ = json.Unmarshal(a.Properties.AuthenticationData, &ch)
	salt, _ := base64.RawURLEncoding.DecodeString(ch.Salt)
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ReasonCode: 0x18,
		Properties: packets.Properties{AuthenticationMethod: "chap1",
			AuthenticationData: login.Proof(login.ClientKey("pw-admin", salt, ch.Iterations), ch.Nonce, "admin", "w2")}})
	if pk := r.MustRecv(packets.Connack); pk.ReasonCode != 0 {
		t.Fatalf("in-band over ws: reason %#x", pk.ReasonCode)
	}
	cliSide.Close()
	select {
	case <-errc:
	case <-time.After(20 * time.Second):
		t.Fatal("ServeConn did not return after the client left")
	}
}

// BenchmarkAuthPlain measures a plain-password CONNECT check as the hook
// does it; with the login service's cache, repeats skip PBKDF2.
func BenchmarkAuthPlain(b *testing.B) {
	dir := b.TempDir()
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", time.Minute}, {"uncached-4096-iterations", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s := newLogins(b, dir, login.Config{PlainCacheTTL: c.ttl})
			addr := netip.MustParseAddr("192.0.2.1")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.CheckPassword("dev1", "c", "pw-dev1", addr, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
