package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed all:dist
var distFS embed.FS

// hashed reports whether name is a content-hashed asset as esbuild writes
// them (app-BIL54AKV.js): its content never changes, so it is cached for a year.
func hashed(name string) bool {
	ext := path.Ext(name)
	if ext != ".js" && ext != ".css" {
		return false
	}
	base := strings.TrimSuffix(name, ext)
	i := strings.LastIndexByte(base, '-')
	if i < 0 || len(base)-i-1 != 8 {
		return false
	}
	for _, c := range base[i+1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mqttgate</title></head>
<body><h1>mqttgate</h1>
<p>The dashboard was not built into this binary. Run <code>make build</code>
in the source tree (it needs Node.js and npm) and rebuild the binary.</p>
<p>MQTT, the WebSocket endpoint /mqtt, /healthz and /metrics work without it.</p>
</body></html>
`

// Handler returns the dashboard's HTTP handler: GET/HEAD of / and of the
// built assets. index.html is sent with no-cache, content-hashed assets
// with a one-year immutable cache; pre-compressed .gz copies are sent to
// clients that accept gzip. If the bundle was not built it serves a page
// saying so. The handler is stateless and safe for concurrent use.
func Handler() http.Handler {
	sub, err := fs.Sub(distFS, "dist")
	if err != nil {
		// Cannot happen: dist is embedded at compile time.
		panic("web: embedded dist missing: " + err.Error())
	}
	return newHandler(sub)
}

func newHandler(files fs.FS) *handler {
	_, err := fs.Stat(files, "index.html")
	return &handler{files: files, built: err == nil}
}

type handler struct {
	files fs.FS
	built bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	setSecurityHeaders(w.Header())
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		name = "index.html"
	}
	if !h.built {
		if name != "index.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(notBuilt))
		}
		return
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".gz") {
		http.NotFound(w, r)
		return
	}
	body, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	if hashed(name) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	hd.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		if gz, err := fs.ReadFile(h.files, name+".gz"); err == nil {
			body = gz
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func setSecurityHeaders(h http.Header) {
	// connect-src 'self' covers ws:/wss: to the same host in current
	// browsers (CSP level 3).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
