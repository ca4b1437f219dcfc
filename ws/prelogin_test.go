package ws

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/login"
)

// Silent upgrades take only the pre-login slots, in all and per address
// (an IPv6 /64 is one), and are closed after login_timeout; logged-in
// sessions keep their room and new logins get in again.
func TestSilentUpgradesKeepLoggedInRoom(t *testing.T) {
	g := startGatewayWith(t, login.Config{}, func(c *Config) {
		c.TLS = TLSOff
		c.MaxConnections, c.MaxConnectionsPerAddr = 10, 5
		c.MaxPreloginConnections, c.MaxPreloginConnectionsPerAddr = 4, 2
		c.LoginTimeout = 3 * time.Second
	})
	ch := g.challenge(t, testUser, "192.0.2.50")
	browser, err := g.wsClient(t, "dash-1", testUser, chap1(t, ch, testUser, "dash-1", testPassword), "192.0.2.50")
	if err != nil {
		t.Fatal(err)
	}
	msgs := subscribe(t, browser, "room/#")

	from := func(a string) http.Header { return http.Header{"X-Forwarded-For": {a}} }
	var silent []*websocket.Conn
	for _, a := range []string{"2001:db8::1", "2001:db8::2", "192.0.2.2", "192.0.2.3"} {
		c, _, err := dial(t, g.srv, from(a))
		if err != nil {
			t.Fatalf("silent upgrade from %s: %v", a, err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	if _, resp, err := dial(t, g.srv, from("2001:db8::3")); err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("3rd silent upgrade from one /64: %v, want 429", err)
	}
	_, resp, err := dial(t, g.srv, from("192.0.2.4"))
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("5th silent upgrade: %v, want 503", err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if !bytes.Contains(body.Bytes(), []byte("max_prelogin_connections")) {
		t.Errorf("503 body %q does not give the reason", body.String())
	}
	// The logged-in session works meanwhile.
	publish(t, browser, "room/a", "still here")
	expect(t, msgs, "still here")

	// The server closes the silent ones (1008) once login_timeout passes.
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Errorf("silent connection: %v, want closed with 1008", err)
		}
	}
	if n := g.srv.Refused("login_timeout"); n != 4 {
		t.Errorf("refused{login_timeout} = %d, want 4", n)
	}
	// A browser from a new address gets in again, and stays past the deadline.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ch = g.challenge(t, testUser, "192.0.2.4")
		_, err = g.wsClient(t, "dash-2", testUser, chap1(t, ch, testUser, "dash-2", testPassword), "192.0.2.4")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login after the silent connections closed: %v", err)
		}
	}
	g.srv.mu.Lock()
	pre := g.srv.slots.pre
	g.srv.mu.Unlock()
	if pre != 0 {
		t.Errorf("%d connections counted as not logged in, want 0", pre)
	}
}

// FuzzConnackResult: the CONNACK watch never panics, and once it decides
// for a prefix of the stream, more bytes do not change its mind.
func FuzzConnackResult(f *testing.F) {
	f.Add([]byte{0x20, 0x02, 0x00, 0x00}, uint8(2))
	f.Add([]byte{0x20, 0x03, 0x00, 0x00, 0x00}, uint8(1))
	f.Add([]byte{0x20, 0x02, 0x00, 0x05}, uint8(3))
	f.Add([]byte{0xf0, 0x03, 0x18, 0x01, 0x00, 0x20, 0x02, 0x00, 0x00}, uint8(4))
	f.Add([]byte{0x20, 0xff, 0xff, 0xff, 0xff}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		n := min(int(cut), len(b))
		a1, d1 := connackResult(b[:n])
		a2, d2 := connackResult(b)
		if d1 && (!d2 || a1 != a2) {
			t.Fatalf("decided %v for %x, then %v/%v for %x", a1, b[:n], a2, d2, b)
		}
		if a2 && !bytes.Contains(b, []byte{0x00}) {
			t.Fatalf("accepted %x without a zero reason code", b)
		}
		w := loginWatch{onLogin: func() {}}
		w.wrote(b[:n])
		w.wrote(b[n:])
		if d2 && (!w.decided || w.accepted != a2) {
			t.Fatalf("loginWatch in two writes: %v/%v, want %v", w.accepted, w.decided, a2)
		}
	})
}
