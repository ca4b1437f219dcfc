package login

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Source is the unit the blocked list counts and blocks: an IPv4 address,
// or the /64 an IPv6 address is in (one host can use every address of its
// /64). An IPv4-mapped IPv6 address counts as its IPv4 address.
func Source(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// guard is the blocked list (spec section 4, as amended by issue 14).
// Failures are counted per (source, user name): max_failures of them within
// failure_window block that pair, so a typo on the dashboard does not lock
// out the devices behind the same NAT address. A source whose failures
// span max_failed_users different user names within the window is
// spraying names, and is blocked as a whole. A success clears only its own
// pair's count. Each further block of the same pair or source doubles,
// up to block_max.
type guard struct {
	cfg Config

	mu     sync.Mutex
	pairs  map[pairKey]*record
	srcs   map[netip.Prefix]*srcRecord
	lastGC time.Time
}

type pairKey struct {
	src  netip.Prefix
	user string
}

type record struct {
	failures []time.Time // within the failure window, oldest first
	until    time.Time   // blocked until
	level    int         // blocks so far; each doubles the next
	lastSeen time.Time
}

type srcRecord struct {
	record
	users map[string]time.Time // user names that failed, and when last
}

// maxRecords bounds each table; past it, stale records are dropped first.
const maxRecords = 50_000

// maxKeyLen bounds the user names kept as keys: a CONNECT may carry a
// name of 64 KiB, a valid one has at most 64 bytes (ValidateName).
const maxKeyLen = 64

// userKey is the blocked list's key for a user name.
func userKey(u string) string {
	if len(u) > maxKeyLen {
		return strings.Clone(u[:maxKeyLen])
	}
	return u
}

func newGuard(cfg Config) *guard {
	return &guard{cfg: cfg, pairs: map[pairKey]*record{}, srcs: map[netip.Prefix]*srcRecord{}}
}

// failure counts a failure of user from src. It returns the length of a
// block of the pair and of the whole source that it started, or 0.
func (g *guard) failure(src netip.Prefix, user string, now time.Time) (pair, whole time.Duration) {
	if g.cfg.MaxFailures <= 0 {
		return 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gcLocked(now)
	user = userKey(user)
	k := pairKey{src, user}
	r := g.pairs[k]
	if r == nil {
		r = &record{}
		g.pairs[k] = r
	}
	r.lastSeen = now
	cut := 0
	for cut < len(r.failures) && now.Sub(r.failures[cut]) > g.cfg.FailureWindow {
		cut++
	}
	r.failures = append(r.failures[cut:], now)
	if len(r.failures) >= g.cfg.MaxFailures && !now.Before(r.until) {
		pair = g.blockLocked(r, now)
	}

	s := g.srcs[src]
	if s == nil {
		s = &srcRecord{users: map[string]time.Time{}}
		g.srcs[src] = s
	}
	s.lastSeen = now
	for u, at := range s.users {
		if now.Sub(at) > g.cfg.FailureWindow {
			delete(s.users, u)
		}
	}
	s.users[user] = now
	if len(s.users) >= g.cfg.MaxFailedUsers && !now.Before(s.until) {
		whole = g.blockLocked(&s.record, now)
		clear(s.users)
	}
	return pair, whole
}

// blockLocked blocks r from now for its next length and returns it.
func (g *guard) blockLocked(r *record, now time.Time) time.Duration {
	d := g.cfg.Block
	for i := 0; i < r.level && d < g.cfg.BlockMax; i++ {
		d *= 2
	}
	d = min(d, g.cfg.BlockMax)
	r.level++
	r.until = now.Add(d)
	r.failures = r.failures[:0]
	return d
}

// success clears the failure count of user from src, and nothing else:
// the failures counted for other user names from src stay.
func (g *guard) success(src netip.Prefix, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	user = userKey(user)
	k := pairKey{src, user}
	if r := g.pairs[k]; r != nil {
		r.failures = r.failures[:0]
		if r.level == 0 {
			delete(g.pairs, k)
		}
	}
	if s := g.srcs[src]; s != nil {
		delete(s.users, user)
		if len(s.users) == 0 && s.level == 0 {
			delete(g.srcs, src)
		}
	}
}

// blocked reports whether logins of user from src are refused, for how
// long still, and whether it is the whole source that is blocked. An empty
// user asks about the whole source only.
func (g *guard) blocked(src netip.Prefix, user string, now time.Time) (d time.Duration, whole, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.srcs[src]; s != nil && now.Before(s.until) {
		return s.until.Sub(now), true, true
	}
	if user == "" {
		return 0, false, false
	}
	if r := g.pairs[pairKey{src, userKey(user)}]; r != nil && now.Before(r.until) {
		return r.until.Sub(now), false, true
	}
	return 0, false, false
}

// blockedCount is the number of sources and of (source, user) pairs
// blocked now.
func (g *guard) blockedCount(now time.Time) (srcs, pairs int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.srcs {
		if now.Before(s.until) {
			srcs++
		}
	}
	for _, r := range g.pairs {
		if now.Before(r.until) {
			pairs++
		}
	}
	return srcs, pairs
}

// gcLocked forgets records that are not blocked and whose last failure is
// older than both the window and the longest block (so their level
// resets), at most once a second, or at once when a table is full.
func (g *guard) gcLocked(now time.Time) {
	full := len(g.pairs) >= maxRecords || len(g.srcs) >= maxRecords
	if now.Sub(g.lastGC) < time.Second && !full {
		return
	}
	g.lastGC = now
	keep := max(g.cfg.FailureWindow, g.cfg.BlockMax)
	stale := func(r *record) bool { return !now.Before(r.until) && now.Sub(r.lastSeen) > keep }
	for k, r := range g.pairs {
		if stale(r) || (len(g.pairs) >= maxRecords && !now.Before(r.until)) {
			delete(g.pairs, k)
		}
	}
	for k, s := range g.srcs {
		if stale(&s.record) || (len(g.srcs) >= maxRecords && !now.Before(s.until)) {
			delete(g.srcs, k)
		}
	}
}
