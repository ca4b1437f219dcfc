package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"mqttgate/gatetest"
)

func TestOpsEndpoints(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{YAML: gatetest.BaseYAML + `
sensors:
  - name: demo
    driver: sim
    interval: 200ms
debug:
  pprof_addr: 127.0.0.1:0
`})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(g.HTTPURL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// Traffic for the counters: a login, a refused login, a message.
	c := connectV3(t, g, "admin", g.AdminPassword(), "metrics-1", true)
	publish(t, c, "m/x", 1, true, "hello")
	dialV3(g, "admin", "wrong", "metrics-bad", true, nil)
	if code, _ := get("/mqtt"); code < 400 { // not a WebSocket upgrade: refused
		t.Errorf("plain GET /mqtt: %d", code)
	}
	// The counters move as the gateway handles the traffic: wait until
	// they show it (what is still missing then is told below).
	names := []string{
		"mqttgate_mqtt_", "mqttgate_logins_total", "mqttgate_login_failures_total", "mqttgate_blocked_addresses",
		"mqttgate_ws_handshakes_total", "mqttgate_ws_refused_total", "go_goroutines", "process_resident_memory_bytes",
	}
	var code int
	var body string
	gatetest.Poll(10*time.Second, func() bool {
		code, body = get("/metrics")
		for _, name := range append(names, `mqttgate_logins_total{method="plain"} 1`) {
			if !strings.Contains(body, name) {
				return false
			}
		}
		return true
	})
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, name := range names {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if !strings.Contains(body, `mqttgate_logins_total{method="plain"} 1`) {
		t.Errorf("/metrics does not count the plain login:\n%s", grepLines(body, "mqttgate_login"))
	}
	if !strings.Contains(body, "sensor") {
		t.Errorf("/metrics has no sensor figures:\n%s", grepLines(body, "sensor"))
	}
	if !g.WaitLog(`msg="profiler listening"`, 5*time.Second) {
		t.Error("debug.pprof_addr set but no profiler started")
	}
	// After a clean stop the port answers nothing; before it, 503 is what
	// a stopping broker reports, which a running one never does.
	if err := g.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := client.Get(g.HTTPURL() + "/healthz"); err == nil {
		t.Error("/healthz still answers after the gateway stopped")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
