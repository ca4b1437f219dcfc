package ws

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"mqttgate/login"
)

func TestMetricsAuth(t *testing.T) {
	lg := newLogin(t, login.Config{})
	if err := lg.Users().Add("dev", "device", "device-password", login.MinIterations); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(lg)
	tokenFile := filepath.Join(t.TempDir(), "token")
	mustWrite(t, tokenFile, []byte("0123456789abcdef-scrape\n"))
	cfg := testConfig(t)
	cfg.MetricsAuth = MetricsAuth{BearerTokenFile: tokenFile, Roles: []string{"admin"}}
	s := startServer(t, cfg, Deps{Login: lg, ServeConn: newPacketSink().serve, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	get := func(set func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, baseURL(s)+"/metrics", nil)
		set(req)
		resp, err := httpClient(s).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-scrape") }, 200},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer 0123456789abcdef-scrapf") }, 401},
		{"admin user", func(r *http.Request) { r.SetBasicAuth(testUser, testPassword) }, 200},
		{"device user", func(r *http.Request) { r.SetBasicAuth("dev", "device-password") }, 403},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth(testUser, "nope") }, 401},
	} {
		resp := get(tc.set)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.want == 401 && !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Basic") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, resp.Header.Values("WWW-Authenticate"))
		}
	}
	// Open by default.
	open := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})})
	resp, err := httpClient(open).Get(baseURL(open) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("default /metrics: %d, want 200", resp.StatusCode)
	}
}

func TestMetricsAuthConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.MetricsAuth = MetricsAuth{BearerToken: "short"}
	if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "metrics_auth.bearer_token") {
		t.Errorf("short token: %v", err)
	}
}
