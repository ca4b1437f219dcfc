package ws

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	pahomqtt "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
	"mqttgate/login"
	"mqttgate/mqtt"
	"mqttgate/mqtt/mqtttest"
)

// gateway is a real login service, broker and ws server on loopback.
type gateway struct {
	login  *login.Service
	broker *mqtt.Broker
	srv    *Server
}

// startGateway runs broker and server until the test ends. 127.0.0.1 is a
// trusted proxy, so tests pose as other addresses with X-Forwarded-For.
func startGateway(t *testing.T, lcfg login.Config, tlsMode string, mods ...func(*mqtt.Config)) *gateway {
	t.Helper()
	return startGatewayWith(t, lcfg, func(c *Config) { c.TLS = tlsMode }, mods...)
}

// startGatewayWith is startGateway with the ws Config changed by wsMod.
func startGatewayWith(t *testing.T, lcfg login.Config, wsMod func(*Config), mods ...func(*mqtt.Config)) *gateway {
	t.Helper()
	mcfg := mqtttest.Config(t)
	for _, m := range mods {
		m(&mcfg)
	}
	b := mqtttest.NewServer(t, mcfg, &mqtttest.Options{
		Users: []mqtttest.User{
			{Name: testUser, Role: "admin", Password: testPassword},
			{Name: "bob", Role: "viewer", Password: testPassword},
		},
		Login:  lcfg,
		Logger: testLogger(t),
	})
	cfg := testConfig(t)
	cfg.TrustedProxies = []string{"127.0.0.1"}
	wsMod(&cfg)
	s := startServer(t, cfg, Deps{Login: b.Logins, ServeConn: b.Broker.ServeConn, Healthy: b.Broker.Healthy})
	return &gateway{login: b.Logins, broker: b.Broker, srv: s}
}

// challenge fetches a challenge for user, posing as from (if not empty).
func (g *gateway) challenge(t *testing.T, user, from string) login.Challenge {
	t.Helper()
	h := http.Header{}
	if from != "" {
		h.Set("X-Forwarded-For", from)
	}
	resp, m := postChallenge(t, g.srv, "application/json", `{"username":"`+user+`"}`, h)
	if resp.StatusCode != 200 {
		t.Fatalf("challenge: %d %v", resp.StatusCode, m)
	}
	return login.Challenge{Method: m["method"].(string), Nonce: m["nonce"].(string), Salt: m["salt"].(string),
		Iterations: int(m["iterations"].(float64)), ExpiresIn: int(m["expires_in"].(float64))}
}

// chap1 computes the CONNECT password field for a challenge.
func chap1(t *testing.T, ch login.Challenge, user, clientID, password string) string {
	t.Helper()
	salt, err := base64.RawURLEncoding.DecodeString(ch.Salt)
	if err != nil {
		t.Fatal(err)
	}
	key := login.ClientKey(password, salt, ch.Iterations)
	return login.PasswordField(ch.Nonce, login.Proof(key, ch.Nonce, user, clientID))
}

// wsClient connects a paho 3.1.1 client over the server's ws/wss URL.
func (g *gateway) wsClient(t *testing.T, clientID, user, password, from string) (pahomqtt.Client, error) {
	t.Helper()
	opts := mqtttest.PahoOptions(wsURL(g.srv), clientID, user, password)
	if g.srv.certs != nil {
		opts.SetTLSConfig(&tls.Config{RootCAs: pool(g.srv), ServerName: "localhost"})
	}
	if from != "" {
		opts.SetHTTPHeaders(http.Header{"X-Forwarded-For": {from}})
	}
	c, err := mqtttest.PahoConnect(opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// tcpClient connects a paho client to the TCP listener with a plain password.
func (g *gateway) tcpClient(t *testing.T, clientID string) pahomqtt.Client {
	t.Helper()
	return mqtttest.MustPaho(t, mqtttest.PahoOptions(g.broker.TCPAddr().String(), clientID, testUser, testPassword))
}

func subscribe(t *testing.T, c pahomqtt.Client, topic string) *gatetest.Recorder {
	t.Helper()
	r, _ := mqtttest.Subscribe(t, c, topic, 1)
	return r
}

func publish(t *testing.T, c pahomqtt.Client, topic, payload string) {
	t.Helper()
	mqtttest.Wait(t, c.Publish(topic, 1, false, payload))
}

func expect(t *testing.T, r *gatetest.Recorder, want string) {
	t.Helper()
	if got := r.Next(t).Payload; got != want {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// TestChap1TwoStepPubSub: the full two-step flow over ws:// and wss://, then
// traffic both ways with a TCP client.
func TestChap1TwoStepPubSub(t *testing.T) {
	for _, mode := range []string{TLSOff, TLSAuto} {
		t.Run("tls="+mode, func(t *testing.T) {
			g := startGateway(t, login.Config{}, mode)
			ch := g.challenge(t, testUser, "")
			c, err := g.wsClient(t, "dash-1", testUser, chap1(t, ch, testUser, "dash-1", testPassword), "")
			if err != nil {
				t.Fatalf("chap1 login over %s refused: %v", wsURL(g.srv), err)
			}
			tcp := g.tcpClient(t, "tcp-1")
			fromWS := subscribe(t, tcp, "gw-1/actuators/led/set")
			fromTCP := subscribe(t, c, "gw-1/sensors/t/state")
			publish(t, c, "gw-1/actuators/led/set", `{"on":true}`)
			expect(t, fromWS, `{"on":true}`)
			publish(t, tcp, "gw-1/sensors/t/state", `{"temperature_c":21.5}`)
			expect(t, fromTCP, `{"temperature_c":21.5}`)
		})
	}
}

// refused checks that g refuses a login.
func (g *gateway) refused(t *testing.T, name, clientID, user, password, from string) {
	t.Helper()
	if c, err := g.wsClient(t, clientID, user, password, from); err == nil {
		c.Disconnect(0)
		t.Errorf("%s: login accepted", name)
	} else if !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
		t.Errorf("%s: %v, want not authorized", name, err)
	}
}

// TestChap1Refusals: every bad login is refused.
func TestChap1Refusals(t *testing.T) {
	g := startGateway(t, login.Config{MaxFailures: 100, ChallengeTTL: time.Second}, TLSAuto)
	refused := func(name, clientID, user, password, from string) {
		t.Helper()
		g.refused(t, name, clientID, user, password, from)
	}
	// Replayed nonce.
	ch := g.challenge(t, testUser, "")
	pw := chap1(t, ch, testUser, "c1", testPassword)
	c, err := g.wsClient(t, "c1", testUser, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Disconnect(100)
	refused("replayed nonce", "c1", testUser, pw, "")
	// Nonce fetched from another address.
	ch = g.challenge(t, testUser, "192.0.2.10")
	refused("foreign address", "c2", testUser, chap1(t, ch, testUser, "c2", testPassword), "")
	// Nonce issued for another user.
	ch = g.challenge(t, "bob", "")
	refused("other user's nonce", "c3", testUser, chap1(t, ch, testUser, "c3", testPassword), "")
	// Wrong password, so wrong proof.
	ch = g.challenge(t, testUser, "")
	refused("wrong proof", "c4", testUser, chap1(t, ch, testUser, "c4", "wrong"), "")
	// Proof for another client id.
	ch = g.challenge(t, testUser, "")
	refused("other client id", "c5", testUser, chap1(t, ch, testUser, "c-other", testPassword), "")
	// Malformed password field, and a plain password on the WebSocket.
	refused("malformed", "c6", testUser, "chap1:abc", "")
	refused("plain password", "c7", testUser, testPassword, "")
	// A fresh login still works afterwards.
	ch = g.challenge(t, testUser, "")
	if _, err := g.wsClient(t, "c9", testUser, chap1(t, ch, testUser, "c9", testPassword), ""); err != nil {
		t.Fatalf("good login after refusals: %v", err)
	}
}

// TestChap1ExpiredNonce: a proof for a nonce past its TTL is refused. The
// TTL is a millisecond, so the test waits that long, not seconds.
func TestChap1ExpiredNonce(t *testing.T) {
	const ttl = time.Millisecond
	g := startGateway(t, login.Config{MaxFailures: 100, ChallengeTTL: ttl}, TLSOff)
	ch := g.challenge(t, testUser, "")
	expired := time.Now().Add(ttl)    // the server set its expiry before it answered
	<-time.After(time.Until(expired)) // the event waited for is that instant
	g.refused(t, "expired nonce", "c8", testUser, chap1(t, ch, testUser, "c8", testPassword), "")
}

// TestChap1Lockout: 5 failures block the address: 429 on challenge and
// upgrade, lifted after the block.
func TestChap1Lockout(t *testing.T) {
	g := startGateway(t, login.Config{Block: 2 * time.Second}, TLSOff)
	const from = "192.0.2.20"
	for i := range 5 {
		ch := g.challenge(t, testUser, from)
		id := fmt.Sprintf("bad-%d", i)
		if _, err := g.wsClient(t, id, testUser, chap1(t, ch, testUser, id, "wrong"), from); err == nil {
			t.Fatal("wrong password accepted")
		}
	}
	h := http.Header{"X-Forwarded-For": {from}}
	resp, m := postChallenge(t, g.srv, "application/json", `{"username":"alice"}`, h)
	if resp.StatusCode != 429 || m["error"] != "blocked" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("challenge after 5 failures: %d %v", resp.StatusCode, m)
	}
	// Only alice is blocked from there: bob, behind the same address, logs in.
	ch0 := g.challenge(t, "bob", from)
	if _, err := g.wsClient(t, "bob-1", "bob", chap1(t, ch0, "bob", "bob-1", testPassword), from); err != nil {
		t.Fatalf("another user from the same address refused: %v", err)
	}
	// Another address still logs in.
	ch := g.challenge(t, testUser, "")
	if _, err := g.wsClient(t, "ok-1", testUser, chap1(t, ch, testUser, "ok-1", testPassword), ""); err != nil {
		t.Fatalf("unblocked address refused: %v", err)
	}
	gatetest.Eventually(t, "the block lifted", func() bool {
		resp, _ := postChallenge(t, g.srv, "application/json", `{"username":"alice"}`, h)
		return resp.StatusCode == 200
	})
	ch = g.challenge(t, testUser, from)
	if _, err := g.wsClient(t, "ok-2", testUser, chap1(t, ch, testUser, "ok-2", testPassword), from); err != nil {
		t.Fatalf("login after the block lifted: %v", err)
	}
}
