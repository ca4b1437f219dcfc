package ws

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"mqttgate/login"

	"mqttgate/gatetest"
)

func TestOriginCheck(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedOrigins = []string{"https://dash.example:9443"}
	s := startServer(t, cfg, Deps{ServeConn: newPacketSink().serve})
	own := "http://" + s.Addr().String()
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{own, true},
		{strings.ToUpper(own[:4]) + own[4:], true},
		{"https://dash.example:9443", true},
		{"https://evil.example", false},
		{"https://dash.example:9444", false},
		{"https://" + s.Addr().String(), false}, // wrong scheme
		{"null", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := dial(t, s, h)
		if tc.ok {
			if err != nil {
				t.Errorf("Origin %q refused: %v", tc.origin, err)
				continue
			}
			c.Close()
			continue
		}
		if err == nil {
			c.Close()
			t.Errorf("Origin %q accepted", tc.origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: %v, want 403", tc.origin, err)
		}
	}
	if n := s.Refused("origin"); n != 4 {
		t.Errorf("refused{origin} = %d, want 4", n)
	}
}

// DNS rebinding: the attacker's page, served from a name that now resolves
// to the gateway, sends Host and Origin both naming the attacker. The
// Origin must be compared with the gateway's own names, not with Host.
func TestOriginDNSRebinding(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	_, port, _ := net.SplitHostPort(s.Addr().String())
	for _, host := range []string{"rebind.attacker.example", "attacker.example.", "192.0.2.99"} {
		h := http.Header{"Host": {net.JoinHostPort(host, port)}, "Origin": {"http://" + net.JoinHostPort(host, port)}}
		c, resp, err := dial(t, s, h)
		if err == nil {
			c.Close()
			t.Errorf("Origin and Host %s accepted", host)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %s: %v, want 403", host, err)
		}
	}
	// The gateway's own names still work, whatever Host says.
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]"} {
		h := http.Header{"Host": {"whatever.example"}, "Origin": {"http://" + host + ":" + port}}
		c, _, err := dial(t, s, h)
		if err != nil {
			t.Errorf("own origin %s refused: %v", host, err)
			continue
		}
		c.Close()
	}
}

func TestXForwardedForOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     string
		want    string
	}{
		{"untrusted peer", nil, "203.0.113.7", "127.0.0.1"},
		{"trusted peer", []string{"127.0.0.0/8"}, "203.0.113.7", "203.0.113.7"},
		{"rightmost untrusted", []string{"127.0.0.1", "10.0.0.0/8"}, "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7"},
		{"no header", []string{"127.0.0.1"}, "", "127.0.0.1"},
		{"garbage", []string{"127.0.0.1"}, "not-an-ip", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newPacketSink()
			cfg := testConfig(t)
			cfg.TrustedProxies = tc.trusted
			s := startServer(t, cfg, Deps{ServeConn: sink.serve})
			h := http.Header{}
			if tc.xff != "" {
				h.Set("X-Forwarded-For", tc.xff)
			}
			c, _, err := dial(t, s, h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case a := <-sink.remote:
				host, _, _ := strings.Cut(a.String(), ":")
				if host != tc.want {
					t.Errorf("RemoteAddr = %v, want host %s", a, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no connection")
			}
		})
	}
}

func TestConnectionLimits(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnectionsPerAddr = 2
	cfg.MaxConnections = 3
	cfg.TrustedProxies = []string{"127.0.0.1"}
	s := startServer(t, cfg, Deps{ServeConn: newPacketSink().serve})
	from := func(a string) http.Header { return http.Header{"X-Forwarded-For": {a}} }
	for range 2 {
		c, _, err := dial(t, s, from("192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	_, resp, err := dial(t, s, from("192.0.2.1"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("3rd connection from one address: %v, want 429", err)
	}
	c, _, err := dial(t, s, from("192.0.2.2"))
	if err != nil {
		t.Fatalf("connection from another address refused: %v", err)
	}
	_, resp, err = dial(t, s, from("192.0.2.3"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection over the total limit: %v, want 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "max_connections") {
		t.Errorf("503 body %q does not give the reason", body)
	}
	// Closing frees the slot.
	c.Close()
	gatetest.Eventually(t, "the slot freed after close", func() bool {
		c, _, err := dial(t, s, from("192.0.2.3"))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// postChallenge POSTs body to the challenge endpoint.
func postChallenge(t testing.TB, s *Server, ctype, body string, h http.Header) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL(s)+"/api/auth/challenge", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := httpClient(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp, m
}

func TestChallengeShapes(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	resp, known := postChallenge(t, s, "application/json", `{"username":"alice"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, known)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if known["method"] != "chap1" || known["nonce"] == "" || known["salt"] == "" ||
		known["iterations"] != float64(login.MinIterations) || known["expires_in"] != float64(30) {
		t.Errorf("challenge %v lacks the spec's fields", known)
	}
	_, unknown := postChallenge(t, s, "application/json; charset=utf-8", `{"username":"mallory"}`, nil)
	for k := range known {
		if _, ok := unknown[k]; !ok || len(unknown) != len(known) {
			t.Fatalf("unknown user's answer %v differs in shape from %v", unknown, known)
		}
	}
	_, again := postChallenge(t, s, "application/json", `{"username":"mallory"}`, nil)
	if again["salt"] != unknown["salt"] || again["nonce"] == unknown["nonce"] {
		t.Errorf("unknown user: salt must be stable and nonce fresh: %v then %v", unknown, again)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("security headers missing: %v", resp.Header)
	}
}

func TestChallengeBadRequests(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	for _, tc := range []struct{ ctype, body, want string }{
		{"application/json", `{"username":`, "not a JSON object"},
		{"application/json", ``, "empty body"},
		{"application/json", `[]`, "not a JSON object"},
		{"application/json", `{}`, "username is missing"},
		{"application/json", `{"username":""}`, "username is empty"},
		{"application/json", `{"username":42}`, "username must be a string"},
		{"application/json", `{"username":"` + strings.Repeat("a", 65) + `"}`, "longer than 64"},
		{"application/json", `{"username":"a/b"}`, "may contain only"},
		{"application/json", `{"username":"alice"} {}`, "after the JSON object"},
		{"text/plain", `{"username":"alice"}`, "application/json"},
		{"", `{"username":"alice"}`, "application/json"},
	} {
		resp, m := postChallenge(t, s, tc.ctype, tc.body, nil)
		msg, _ := m["error"].(string)
		if resp.StatusCode != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %q: %d %q, want 400 saying %q", tc.ctype, tc.body, resp.StatusCode, msg, tc.want)
		}
	}
	resp, m := postChallenge(t, s, "application/json", `{"username":"`+strings.Repeat("a", 2000)+`"}`, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || m["error"] == nil {
		t.Errorf("oversized body: %d %v, want 413 with error", resp.StatusCode, m)
	}
	resp, err := httpClient(s).Get(baseURL(s) + "/api/auth/challenge")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q, want 405 Allow=POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestBlockedAddressGets429(t *testing.T) {
	lg := newLogin(t, login.Config{MaxFailures: 2, MaxFailedUsers: 3, Block: 2 * time.Second})
	cfg := testConfig(t)
	cfg.TrustedProxies = []string{"127.0.0.1"}
	s := startServer(t, cfg, Deps{Login: lg, ServeConn: newPacketSink().serve})
	bad := http.Header{"X-Forwarded-For": {"192.0.2.9"}}
	for range 2 {
		if _, err := lg.CheckPassword(testUser, "c1", "chap1:bogus:AAAA", mustAddr("192.0.2.9"), false); err == nil {
			t.Fatal("bogus password accepted")
		}
	}
	resp, m := postChallenge(t, s, "application/json", `{"username":"alice"}`, bad)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	msg, _ := m["message"].(string)
	if resp.StatusCode != 429 || m["error"] != "blocked" || ra < 1 || m["retry_after"] != float64(ra) || !strings.Contains(msg, "for this user") {
		t.Fatalf("blocked challenge: %d Retry-After=%q %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	// Only alice is blocked from there: others may log in, and connect.
	if resp, _ := postChallenge(t, s, "application/json", `{"username":"bob"}`, bad); resp.StatusCode != 200 {
		t.Fatalf("another user from the same address got %d", resp.StatusCode)
	}
	c, _, err := dial(t, s, bad)
	if err != nil {
		t.Fatalf("upgrade with one user blocked: %v", err)
	}
	c.Close()
	// Failures with three user names block the whole address.
	for _, name := range []string{"root", "pi"} {
		lg.CheckPassword(name, "c1", "chap1:bogus:AAAA", mustAddr("192.0.2.9"), false)
	}
	_, wresp, err := dial(t, s, bad)
	if err == nil || wresp == nil || wresp.StatusCode != 429 || wresp.Header.Get("Retry-After") == "" {
		t.Fatalf("blocked upgrade: %v, want 429 with Retry-After", err)
	}
	// Other addresses are unaffected.
	if resp, _ := postChallenge(t, s, "application/json", `{"username":"alice"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("unblocked address got %d", resp.StatusCode)
	}
	// The block lifts.
	gatetest.Eventually(t, "the block lifted", func() bool {
		resp, _ := postChallenge(t, s, "application/json", `{"username":"alice"}`, bad)
		return resp.StatusCode == 200
	})
	c, _, err = dial(t, s, bad)
	if err != nil {
		t.Fatalf("upgrade after the block: %v", err)
	}
	c.Close()
}

func TestHealthzAndRoutes(t *testing.T) {
	healthy := true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	s := startServer(t, testConfig(t), Deps{
		ServeConn: newPacketSink().serve,
		Healthy: func() bool {
			<-mu
			defer func() { mu <- struct{}{} }()
			return healthy
		},
		Dashboard: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard") }),
		Metrics:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "metrics") }),
	})
	get := func(path string) (int, string, http.Header) {
		resp, err := httpClient(s).Get(baseURL(s) + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	<-mu
	healthy = false
	mu <- struct{}{}
	if code, _, _ := get("/healthz"); code != 503 {
		t.Errorf("/healthz unhealthy: %d, want 503", code)
	}
	code, body, h := get("/")
	if code != 200 || body != "dashboard" {
		t.Errorf("/: %d %q", code, body)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' wss://"+s.Addr().String()) || h.Get("Referrer-Policy") == "" {
		t.Errorf("/ headers: %v", h)
	}
	if code, body, _ := get("/metrics"); code != 200 || body != "metrics" {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, _, _ := get("/mqtt"); code != 400 {
		t.Errorf("plain GET /mqtt: %d, want 400", code)
	}
}
