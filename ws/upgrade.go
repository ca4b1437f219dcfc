package ws

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/login"
)

// serveMQTT upgrades /mqtt to a WebSocket and hands it to Deps.ServeConn.
func (s *Server) serveMQTT(w http.ResponseWriter, r *http.Request) {
	_, client := s.addrs(r)
	addr := client.Addr()
	if d, blocked := s.deps.Login.Blocked(addr); blocked {
		s.m.refuse("blocked")
		w.Header().Set("Retry-After", retryAfter(d))
		httpError(w, http.StatusTooManyRequests, "too many failed logins from your address; retry in "+retryAfter(d)+" s")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin) {
		s.m.refuse("origin")
		s.log.Warn("websocket origin refused", "addr", addr, "origin", origin)
		httpError(w, http.StatusForbidden, "origin not allowed: "+origin+"; add it to http.allowed_origins to allow it")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.m.refuse("not_websocket")
		httpError(w, http.StatusBadRequest, "this is the MQTT over WebSocket endpoint; connect with a WebSocket client (subprotocol mqtt)")
		return
	}
	if !offersMQTT(r) {
		s.m.refuse("subprotocol")
		httpError(w, http.StatusBadRequest, `missing WebSocket subprotocol: offer "mqtt" (or "mqttv3.1") in Sec-WebSocket-Protocol`)
		return
	}
	res, status, reason := s.reserve(addr)
	if status != 0 {
		s.log.Warn("websocket connection refused", "addr", addr, "reason", reason)
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "10")
		}
		httpError(w, status, reason)
		return
	}
	release := res.release
	// Memory per idle connection: the connection reads through a 1 KiB
	// buffer (the Upgrader's ReadBufferSize) instead of the HTTP server's
	// 4 KiB one (the broker's own reader sits on top, and a frame header
	// fits many times over; idle WS connections measured 41.6 -> 38.3 KB
	// each, fan-in unchanged), writes borrow a pooled buffer only while
	// writing, and the connection is served on a fresh goroutine so that
	// this handler returns: net/http's per-connection state (its write
	// buffer, the request) and this goroutine's deep stack are released.
	wc, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		release()
		return // answered and logged by the Upgrader's Error
	}
	if nc := wc.NetConn(); nc != nil {
		setNoDelay(nc)
	}
	c := newConn(wc, net.TCPAddrFromAddrPort(client), connOptions{
		pingInterval: s.cfg.PingInterval, pongTimeout: s.cfg.PongTimeout,
		writeTimeout: s.cfg.WriteTimeout, readLimit: s.cfg.MaxMessageSize,
	})
	if !s.track(c) {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
		release()
		return
	}
	deadline := s.loginDeadline(c, res, addr)
	s.m.handshakes.Add(1)
	s.log.Debug("websocket connected", "addr", addr, "subprotocol", wc.Subprotocol())
	go func() {
		defer release()
		defer deadline.Stop()
		defer s.untrack(c)
		err := s.deps.ServeConn(&watchedConn{Conn: c, watch: loginWatch{onLogin: res.login}})
		_ = c.Close()
		s.log.Debug("websocket closed", "addr", addr, "err", err)
	}()
}

// loginDeadline closes c (1008) if it has not logged in within
// LoginTimeout, freeing its pre-login slot. Stop the returned timer when
// the connection ends.
func (s *Server) loginDeadline(c *Conn, res *reservation, addr netip.Addr) *time.Timer {
	return time.AfterFunc(s.cfg.LoginTimeout, func() {
		select {
		case <-c.Done():
			return
		default:
		}
		if !res.isLoggedIn() {
			s.m.refuse("login_timeout")
			s.log.Info("websocket closed: no login in time", "addr", addr, "login_timeout", s.cfg.LoginTimeout)
			c.closeWith(websocket.ClosePolicyViolation, "no login within login_timeout")
		}
	})
}

// setNoDelay turns off Nagle on the TCP connection under nc (also through TLS).
func setNoDelay(nc net.Conn) {
	if t, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = t.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

// offersMQTT reports whether the client offers a subprotocol we speak.
func offersMQTT(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == "mqtt" || p == "mqttv3.1" {
			return true
		}
	}
	return false
}

// reserve takes a connection slot for addr, counted as not logged in
// yet. On refusal it returns an HTTP status and the reason for the client.
func (s *Server) reserve(addr netip.Addr) (res *reservation, status int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		s.m.refuse("shutdown")
		return nil, http.StatusServiceUnavailable, "server shutting down"
	}
	src := login.Source(addr)
	status, metric, msg := s.slots.take(s.cfg, src)
	if status != 0 {
		s.m.refuse(metric)
		return nil, status, msg
	}
	return &reservation{mu: &s.mu, s: &s.slots, src: src}, 0, ""
}

// track registers c for closing at shutdown; false if shutting down.
func (s *Server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	return true
}

func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.handlers.Done()
}

// addrs returns the direct peer and the client: the peer, or the address
// named by X-Forwarded-For when the peer is a trusted proxy (the rightmost
// entry that is not itself a trusted proxy).
func (s *Server) addrs(r *http.Request) (peer, client netip.AddrPort) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPortFrom(netip.IPv6Unspecified(), 0), netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	if !s.trusted(peer.Addr()) {
		return peer, peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed entry ends the trusted chain
		}
		a = a.Unmap()
		if !s.trusted(a) || i == 0 {
			return peer, netip.AddrPortFrom(a, peer.Port())
		}
	}
	return peer, peer
}

// clientAddr is the client's address for logs and login checks.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	_, c := s.addrs(r)
	return c.Addr()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// retryAfter formats d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds()))))
}

// httpError answers a plain-text error.
func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
