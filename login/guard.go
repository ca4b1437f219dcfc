package login

import (
	"net/netip"
	"sync"
	"time"
)

// guard is the blocked list: failed logins per source address and the
// blocks they earn (spec section 4).
type guard struct {
	cfg Config

	mu     sync.Mutex
	addrs  map[netip.Addr]*record
	lastGC time.Time
}

type record struct {
	failures []time.Time // within the failure window, oldest first
	until    time.Time   // blocked until
	level    int         // blocks so far; each doubles the next
	lastSeen time.Time
}

// maxRecords bounds the table; past it, stale records are dropped first.
const maxRecords = 50_000

func newGuard(cfg Config) *guard {
	return &guard{cfg: cfg, addrs: map[netip.Addr]*record{}}
}

// failure counts a failure and returns the length of the block it started,
// or 0.
func (g *guard) failure(addr netip.Addr, now time.Time) time.Duration {
	if g.cfg.MaxFailures <= 0 {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gcLocked(now)
	r := g.addrs[addr]
	if r == nil {
		r = &record{}
		g.addrs[addr] = r
	}
	r.lastSeen = now
	cut := 0
	for cut < len(r.failures) && now.Sub(r.failures[cut]) > g.cfg.FailureWindow {
		cut++
	}
	r.failures = append(r.failures[cut:], now)
	if len(r.failures) < g.cfg.MaxFailures || now.Before(r.until) {
		return 0
	}
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

// success clears an address's failure count.
func (g *guard) success(addr netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.addrs[addr]; r != nil {
		r.failures = r.failures[:0]
		if r.level == 0 {
			delete(g.addrs, addr)
		}
	}
}

func (g *guard) blocked(addr netip.Addr, now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.addrs[addr]
	if r == nil || !now.Before(r.until) {
		return 0, false
	}
	return r.until.Sub(now), true
}

// blockedCount is the number of addresses blocked now.
func (g *guard) blockedCount(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.addrs {
		if now.Before(r.until) {
			n++
		}
	}
	return n
}

// gcLocked forgets addresses that are not blocked and whose last failure is
// older than both the window and the longest block (so their level
// resets), at most once a second, or at once when the table is full.
func (g *guard) gcLocked(now time.Time) {
	if now.Sub(g.lastGC) < time.Second && len(g.addrs) < maxRecords {
		return
	}
	g.lastGC = now
	keep := max(g.cfg.FailureWindow, g.cfg.BlockMax)
	for a, r := range g.addrs {
		if !now.Before(r.until) && now.Sub(r.lastSeen) > keep {
			delete(g.addrs, a)
		}
	}
	if len(g.addrs) >= maxRecords {
		for a, r := range g.addrs {
			if !now.Before(r.until) {
				delete(g.addrs, a)
			}
		}
	}
}
