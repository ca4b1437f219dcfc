package ws

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
)

// A WebSocket connection is "pre-login" from the upgrade until the broker
// sends it a successful CONNACK. Pre-login connections have their own
// small bounds, in all and per source address, and must log in within
// Config.LoginTimeout, so silent upgrades cannot take the room of
// logged-in sessions.

// maxWatched bounds the bytes kept while looking for the CONNACK (an AUTH
// challenge of the in-band form comes first; it is a few hundred bytes).
const maxWatched = 4096

// connackResult looks at the first bytes a broker wrote to a connection:
// any AUTH packets (in-band chap1), then the CONNACK. decided is false
// while more bytes are needed; accepted is true when the CONNACK's reason
// code is 0 (success). Anything else first, or a malformed length, is
// decided and not accepted.
func connackResult(b []byte) (accepted, decided bool) {
	for {
		if len(b) < 2 {
			return false, false
		}
		n, hl, state := remainingLength(b[1:])
		switch state {
		case lengthShort:
			return false, false
		case lengthBad:
			return false, true
		}
		switch b[0] >> 4 {
		case 15: // AUTH
			if len(b) < 1+hl+n {
				return false, false
			}
			b = b[1+hl+n:]
		case 2: // CONNACK: flags, reason code
			if n < 2 {
				return false, true
			}
			if len(b) < 1+hl+2 {
				return false, false
			}
			return b[1+hl+1] == 0, true
		default:
			return false, true
		}
	}
}

const (
	lengthOK = iota
	lengthShort
	lengthBad
)

// remainingLength decodes an MQTT variable byte integer: its value and the
// number of bytes it took.
func remainingLength(b []byte) (n, size, state int) {
	mul := 1
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, lengthShort
		}
		n += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return n, i + 1, lengthOK
		}
		mul *= 128
	}
	return 0, 0, lengthBad
}

// loginWatch follows the bytes written to one connection until the login
// is decided. Not safe for concurrent use.
type loginWatch struct {
	seen     []byte
	onLogin  func() // called once, when the CONNACK accepted the login
	decided  bool
	accepted bool
}

// wrote feeds bytes written to the peer.
func (w *loginWatch) wrote(p []byte) {
	if w.decided {
		return
	}
	w.seen = append(w.seen, p[:min(len(p), maxWatched-len(w.seen))]...)
	w.accepted, w.decided = connackResult(w.seen)
	if !w.decided && len(w.seen) >= maxWatched {
		w.decided = true
	}
	if w.decided {
		w.seen = nil
		if w.accepted {
			w.onLogin()
		}
	}
}

// watchedConn is the Conn handed to the broker: it watches the bytes
// written until the login is decided.
type watchedConn struct {
	*Conn
	mu    sync.Mutex
	watch loginWatch
}

// Write feeds the login watch and writes p.
func (c *watchedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.watch.wrote(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// slots counts WebSocket connections, in all and per source address
// (login.Source: an IPv6 /64 is one), and those not logged in yet.
type slots struct {
	all, pre       int
	perAddr, preBy map[netip.Prefix]int
}

// take reserves a slot for a connection from src that has not logged in;
// on refusal it returns the HTTP status, the metrics reason and the
// message for the client.
func (s *slots) take(cfg Config, src netip.Prefix) (status int, reason, msg string) {
	switch {
	case s.perAddr[src] >= cfg.MaxConnectionsPerAddr:
		return http.StatusTooManyRequests, "limit_addr", "too many WebSocket connections from your address (max_connections_per_addr " + strconv.Itoa(cfg.MaxConnectionsPerAddr) + ")"
	case s.preBy[src] >= cfg.MaxPreloginConnectionsPerAddr:
		return http.StatusTooManyRequests, "limit_prelogin_addr", "too many WebSocket connections from your address waiting to log in (max_prelogin_connections_per_addr " + strconv.Itoa(cfg.MaxPreloginConnectionsPerAddr) + ")"
	case s.all >= cfg.MaxConnections:
		return http.StatusServiceUnavailable, "limit_total", "too many WebSocket connections to the gateway (max_connections " + strconv.Itoa(cfg.MaxConnections) + "); try again later"
	case s.pre >= cfg.MaxPreloginConnections:
		return http.StatusServiceUnavailable, "limit_prelogin", "too many WebSocket connections waiting to log in (max_prelogin_connections " + strconv.Itoa(cfg.MaxPreloginConnections) + "); try again in a few seconds"
	}
	s.all++
	s.perAddr[src]++
	s.pre++
	s.preBy[src]++
	return 0, "", ""
}

// loggedIn moves a connection from src out of the pre-login count.
func (s *slots) loggedIn(src netip.Prefix) {
	s.pre--
	if s.preBy[src]--; s.preBy[src] <= 0 {
		delete(s.preBy, src)
	}
}

// release frees the slot of a connection from src that has ended.
func (s *slots) release(src netip.Prefix, wasLoggedIn bool) {
	if !wasLoggedIn {
		s.loggedIn(src)
	}
	s.all--
	if s.perAddr[src]--; s.perAddr[src] <= 0 {
		delete(s.perAddr, src)
	}
}

// reservation is one connection's slot; its methods may be called from
// any goroutine, each effect happening once.
type reservation struct {
	mu       *sync.Mutex
	s        *slots
	src      netip.Prefix
	loggedIn bool
	released bool
}

// login marks the connection logged in; it leaves the pre-login bounds.
func (r *reservation) login() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loggedIn || r.released {
		return
	}
	r.loggedIn = true
	r.s.loggedIn(r.src)
}

// isLoggedIn reports whether login was called.
func (r *reservation) isLoggedIn() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loggedIn
}

// release frees the slot.
func (r *reservation) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.released = true
	r.s.release(r.src, r.loggedIn)
}
