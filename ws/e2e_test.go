package ws

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pahomqtt "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/login"
	"mqttgate/mqtt"
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
	users, err := login.OpenUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, role string }{{testUser, "admin"}, {"bob", "viewer"}} {
		if err := users.Add(u.name, u.role, testPassword, login.MinIterations); err != nil {
			t.Fatal(err)
		}
	}
	lcfg.Iterations = login.MinIterations
	lg, err := login.New(lcfg, users, []byte("0123456789abcdef0123456789abcdef"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	mcfg := mqtt.DefaultConfig()
	mcfg.TCPAddr = "127.0.0.1:0"
	mcfg.DataDir = t.TempDir()
	for _, m := range mods {
		m(&mcfg)
	}
	b, err := mqtt.New(mcfg, testLogger(t), lg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("broker did not stop")
		}
	})
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("broker Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("broker not ready")
	}
	cfg := testConfig(t)
	cfg.TrustedProxies = []string{"127.0.0.1"}
	wsMod(&cfg)
	s := startServer(t, cfg, Deps{Login: lg, ServeConn: b.ServeConn, Healthy: b.Healthy})
	return &gateway{login: lg, broker: b, srv: s}
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
	opts := pahomqtt.NewClientOptions().AddBroker(wsURL(g.srv)).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(20 * time.Second)
	if g.srv.certs != nil {
		opts.SetTLSConfig(&tls.Config{RootCAs: pool(g.srv), ServerName: "localhost"})
	}
	if from != "" {
		opts.SetHTTPHeaders(http.Header{"X-Forwarded-For": {from}})
	}
	c := pahomqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("connect did not finish in 20 s")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// tcpClient connects a paho client to the TCP listener with a plain password.
func (g *gateway) tcpClient(t *testing.T, clientID string) pahomqtt.Client {
	t.Helper()
	opts := pahomqtt.NewClientOptions().AddBroker("tcp://" + g.broker.TCPAddr().String()).
		SetClientID(clientID).SetUsername(testUser).SetPassword(testPassword).
		SetAutoReconnect(false).SetConnectTimeout(20 * time.Second)
	c := pahomqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("tcp connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t *testing.T, c pahomqtt.Client, topic string) <-chan string {
	t.Helper()
	ch := make(chan string, 16)
	tok := c.Subscribe(topic, 1, func(_ pahomqtt.Client, m pahomqtt.Message) { ch <- string(m.Payload()) })
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	return ch
}

func publish(t *testing.T, c pahomqtt.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func expect(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%q not received within 20 s", want)
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

// TestChap1Refusals: every bad login is refused.
func TestChap1Refusals(t *testing.T) {
	g := startGateway(t, login.Config{MaxFailures: 100, ChallengeTTL: time.Second}, TLSAuto)
	refused := func(name, clientID, user, password, from string) {
		t.Helper()
		if c, err := g.wsClient(t, clientID, user, password, from); err == nil {
			c.Disconnect(0)
			t.Errorf("%s: login accepted", name)
		} else if !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
			t.Errorf("%s: %v, want not authorized", name, err)
		}
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
	// Expired nonce (TTL 1 s).
	ch = g.challenge(t, testUser, "")
	time.Sleep(2500 * time.Millisecond)
	refused("expired nonce", "c8", testUser, chap1(t, ch, testUser, "c8", testPassword), "")
	// A fresh login still works afterwards.
	ch = g.challenge(t, testUser, "")
	if _, err := g.wsClient(t, "c9", testUser, chap1(t, ch, testUser, "c9", testPassword), ""); err != nil {
		t.Fatalf("good login after refusals: %v", err)
	}
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, _ := postChallenge(t, g.srv, "application/json", `{"username":"alice"}`, h)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("block not lifted within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ch = g.challenge(t, testUser, from)
	if _, err := g.wsClient(t, "ok-2", testUser, chap1(t, ch, testUser, "ok-2", testPassword), from); err != nil {
		t.Fatalf("login after the block lifted: %v", err)
	}
}
