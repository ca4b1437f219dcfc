package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, path string, gz bool) *http.Response {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("bad gzip body: %v", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return string(b)
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

func TestHandlerNotBuilt(t *testing.T) {
	h := newHandler(fstest.MapFS{".gitkeep": {}})
	res := get(t, h, "/", false)
	if res.StatusCode != 200 || !strings.Contains(body(t, res), "make build") {
		t.Fatalf("GET / without a bundle: status %d, want 200 and a page naming `make build`", res.StatusCode)
	}
	if res := get(t, h, "/app.js", false); res.StatusCode != 404 {
		t.Fatalf("GET /app.js without a bundle: status %d, want 404", res.StatusCode)
	}
}

func TestHandlerBuilt(t *testing.T) {
	const js = "console.log('dashboard')"
	h := newHandler(fstest.MapFS{
		".gitkeep":           {},
		"index.html":         {Data: []byte("<!doctype html><title>mqttgate</title>")},
		"app-ABCD1234.js":    {Data: []byte(js)},
		"app-ABCD1234.js.gz": {Data: []byte(gzipped(js))},
		"app-ABCD1234.css":   {Data: []byte("body{}")},
	})
	res := get(t, h, "/", false)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET /: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	if !strings.Contains(body(t, res), "<title>mqttgate</title>") {
		t.Fatal("GET /: not the index page")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("GET /: CSP %q does not restrict to self", csp)
	}
	for _, gz := range []bool{false, true} {
		res := get(t, h, "/app-ABCD1234.js", gz)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
			t.Fatalf("GET js (gzip %v): %d %q", gz, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("GET js: Cache-Control %q, want immutable", res.Header.Get("Cache-Control"))
		}
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != gz {
			t.Fatalf("GET js (accept gzip %v): Content-Encoding %q", gz, res.Header.Get("Content-Encoding"))
		}
		if b := body(t, res); b != js {
			t.Fatalf("GET js (gzip %v): body %q", gz, b)
		}
	}
	res = get(t, h, "/app-ABCD1234.css", true)
	if res.Header.Get("Content-Encoding") != "" || body(t, res) != "body{}" || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("GET css without .gz: %q %q", res.Header.Get("Content-Encoding"), res.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/nope.js", "/.gitkeep", "/app-ABCD1234.js.gz", "/../embed.go"} {
		if res := get(t, h, p, false); res.StatusCode != 404 {
			t.Fatalf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d, want 405", rec.Code)
	}
}

// TestEmbeddedBundle checks what this build embeds: the real bundle if
// `make build` ran, else the placeholder page.
func TestEmbeddedBundle(t *testing.T) {
	h := Handler()
	res := get(t, h, "/", true)
	b := body(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %d", res.StatusCode)
	}
	if !strings.Contains(b, "make build") && !strings.Contains(b, `id="login-form"`) {
		t.Fatalf("GET /: neither the dashboard nor the placeholder:\n%s", b)
	}
}

func TestHashed(t *testing.T) {
	for name, want := range map[string]bool{
		"app-BIL54AKV.js": true, "app-TZ2CDU66.css": true, "index.html": false,
		"app.js": false, "app-bil54akv.js": false, "app-BIL54AK.js": false,
	} {
		if got := hashed(name); got != want {
			t.Errorf("hashed(%q) = %v, want %v", name, got, want)
		}
	}
}
