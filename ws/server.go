package ws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/login"
)

// Deps are the parts of the gateway the Server serves.
type Deps struct {
	// Login issues challenges and reports blocked addresses. Required.
	Login *login.Service
	// ServeConn serves one accepted /mqtt connection and returns when it
	// ends (the broker's ServeConn). Required.
	ServeConn func(net.Conn) error
	// Dashboard serves "/"; nil answers 404.
	Dashboard http.Handler
	// Metrics serves "/metrics"; nil answers 404.
	Metrics http.Handler
	// Healthy reports whether the broker serves; nil means always.
	Healthy func() bool
}

// Server is the HTTP(S) server. Create it with New and start it with Run.
// Its methods are safe for concurrent use. When Run returns, every
// WebSocket connection it accepted has been closed.
type Server struct {
	cfg     Config
	log     *slog.Logger
	deps    Deps
	certs   *certStore // nil with TLS off
	proxies []netip.Prefix
	origins map[string]bool
	up      websocket.Upgrader
	m       *metrics

	ready chan struct{}
	addr  net.Addr

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	slots    slots
	closing  bool
	handlers sync.WaitGroup
}

// New checks cfg and prepares the server. With TLS "auto" it generates or
// loads the self-signed certificate; with "on" it loads the configured
// pair. It opens no socket and starts no goroutine.
func New(cfg Config, log *slog.Logger, deps Deps) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ws: %w", err)
	}
	if deps.Login == nil {
		return nil, errors.New("ws: deps: Login is required")
	}
	if deps.ServeConn == nil {
		return nil, errors.New("ws: deps: ServeConn is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ws")
	s := &Server{
		cfg: cfg, log: log, deps: deps,
		origins: map[string]bool{},
		m:       newMetrics(),
		ready:   make(chan struct{}),
		conns:   map[*Conn]struct{}{},
		slots:   slots{perAddr: map[netip.Prefix]int{}, preBy: map[netip.Prefix]int{}},
	}
	s.proxies, _ = parsePrefixes(cfg.TrustedProxies)
	for _, o := range cfg.AllowedOrigins {
		n, _ := normalizeOrigin(o)
		s.origins[n] = true
	}
	if _, err := cfg.MetricsAuth.token(); err != nil {
		return nil, err
	}
	var err error
	switch cfg.TLS {
	case TLSAuto:
		s.certs, err = autoCert(cfg.DataDir, log)
	case TLSOn:
		s.certs, err = newCertStore(cfg.CertFile, cfg.KeyFile, log)
	}
	if err != nil {
		return nil, err
	}
	s.up = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		// A 1 KiB read buffer, not the HTTP server's 4 KiB one: see serveMQTT.
		ReadBufferSize:  1 << 10,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked before Upgrade
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.m.refuse("handshake")
			s.log.Info("websocket handshake refused", "addr", s.clientAddr(r), "status", status, "err", reason)
			httpError(w, status, reason.Error())
		},
	}
	return s, nil
}

// Fingerprint returns the SHA-256 fingerprint of the serving certificate
// (hex pairs with colons), or "" with TLS off.
func (s *Server) Fingerprint() string {
	if s.certs == nil {
		return ""
	}
	return Fingerprint(s.certs.current().Certificate[0])
}

// Certificate returns the serving leaf certificate, or nil with TLS off.
// Clients can pin it (e.g. add it to a RootCAs pool).
func (s *Server) Certificate() *x509.Certificate {
	if s.certs == nil {
		return nil
	}
	return s.certs.current().Leaf
}

// Reload re-reads the configured certificate and key (TLS "on"). On error
// the old certificate stays in use. With other modes it does nothing.
func (s *Server) Reload() error {
	if s.cfg.TLS != TLSOn {
		return nil
	}
	return s.certs.reload(true)
}

// Ready is closed once the server accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the bound listen address; nil before Ready.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.addr
	default:
		return nil
	}
}

// Run listens on the configured address and serves like Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ws: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln, a plain TCP listener the caller bound (the server
// adds TLS), until ctx is cancelled, then stops within ShutdownTimeout: it
// stops accepting, closes every WebSocket connection (close code 1001) and
// waits for their handlers. It returns nil after a normal stop. Run or
// Serve may be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if s.certs != nil {
		scheme = "https"
		hs.TLSConfig = tlsConfig(s.certs)
		ln = tls.NewListener(ln, hs.TLSConfig)
		c := s.certs.current()
		s.log.Info("tls certificate", "mode", s.cfg.TLS, "sha256", Fingerprint(c.Certificate[0]),
			"dns", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if host, _, _ := net.SplitHostPort(s.cfg.Addr); !isLoopbackHost(host) {
		s.log.Warn("serving plain HTTP and ws:// on a non-loopback address; logins and data cross the network unencrypted", "addr", ln.Addr().String())
	}
	s.addr = ln.Addr()
	close(s.ready)
	s.log.Info("listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+"/")

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var pollDone chan struct{}
	if s.cfg.TLS == TLSOn {
		pollDone = make(chan struct{})
		go s.pollCert(ctx, pollDone)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.closeConns()
	_ = hs.Shutdown(sctx)
	if serveErr == nil {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	waited := make(chan struct{})
	go func() { s.handlers.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-sctx.Done():
		s.log.Warn("websocket handlers still running after shutdown timeout")
	}
	if pollDone != nil {
		<-pollDone
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("ws: serve: %w", serveErr)
	}
	return nil
}

// pollCert re-reads the configured pair when its files change.
func (s *Server) pollCert(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.CertPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.certs.reload(false) // logged inside
		}
	}
}

// closeConns refuses new upgrades and closes every open WebSocket.
func (s *Server) closeConns() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.closeWith(websocket.CloseGoingAway, "server shutting down") })
	}
	wg.Wait()
}

// Handler returns the server's routes with security headers; Run serves it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/mqtt", s.serveMQTT)
	mux.Handle("/api/auth/challenge", secure(http.HandlerFunc(s.serveChallenge)))
	mux.Handle("/api/", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusNotFound, "no such API endpoint")
	})))
	mux.Handle("/healthz", secure(http.HandlerFunc(s.serveHealth)))
	mux.Handle("/metrics", secure(s.metricsGuard(orNotFound(s.deps.Metrics))))
	mux.Handle("/", secure(orNotFound(s.deps.Dashboard)))
	return mux
}

func orNotFound(h http.Handler) http.Handler {
	if h == nil {
		return http.NotFoundHandler()
	}
	return h
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.deps.Healthy != nil && !s.deps.Healthy() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// maxBody bounds any request body (the challenge endpoint has a tighter limit).
const maxBody = 64 << 10

// secure adds security headers to every response of h and bounds the
// request body.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		connect := "'self'"
		if validCSPHost(r.Host) {
			connect += " wss://" + r.Host + " ws://" + r.Host
		}
		hd.Set("Content-Security-Policy", "default-src 'self'; connect-src "+connect+
			"; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'"+
			"; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
		// No HSTS: with the self-signed certificate users must be able to
		// accept it in the browser, which HSTS would forbid.
		h.ServeHTTP(w, r)
	})
}

// validCSPHost accepts only host[:port] characters, so a Host header cannot
// inject CSP directives.
func validCSPHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
