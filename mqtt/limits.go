package mqtt

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// connLimits bounds the TCP and TLS connections: those from one source
// address (max_connections_per_addr), and those that have not logged in
// yet, in all (max_pending_connections) and from one address
// (max_pending_connections_per_addr). A connection past a bound is closed
// at accept, before a byte is read. Logged-in clients on every listener
// are bounded by mochi (max_clients). Safe for concurrent use.
type connLimits struct {
	perAddr, pending, pendingPerAddr int

	mu      sync.Mutex
	nPend   int
	byAddr  map[netip.Addr]*addrCount
	limited atomic.Int64 // connections closed at accept
}

type addrCount struct{ conns, pending int }

func newConnLimits(cfg Config) *connLimits {
	return &connLimits{perAddr: cfg.MaxConnectionsPerAddr, pending: cfg.MaxPendingConnections,
		pendingPerAddr: cfg.MaxPendingConnectionsPerAddr, byAddr: map[netip.Addr]*addrCount{}}
}

// connTicket is one admitted connection's place in the counts.
type connTicket struct {
	l        *connLimits
	addr     netip.Addr
	loggedIn bool // guarded by l.mu
	done     bool // guarded by l.mu
}

// admit counts a new connection from remote, or returns nil and the bound
// it would pass.
func (l *connLimits) admit(remote net.Addr) (*connTicket, string) {
	var addr netip.Addr
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		addr = ap.Addr().Unmap()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.byAddr[addr]
	if c == nil {
		c = &addrCount{}
	}
	why := ""
	switch {
	case l.nPend >= l.pending:
		why = "max_pending_connections"
	case c.pending >= l.pendingPerAddr:
		why = "max_pending_connections_per_addr"
	case c.conns >= l.perAddr:
		why = "max_connections_per_addr"
	}
	if why != "" {
		l.limited.Add(1)
		return nil, why
	}
	c.conns++
	c.pending++
	l.nPend++
	l.byAddr[addr] = c
	return &connTicket{l: l, addr: addr}, ""
}

// login moves the connection out of the pending counts.
func (t *connTicket) login() {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.loggedIn || t.done {
		return
	}
	t.loggedIn = true
	t.l.nPend--
	t.l.byAddr[t.addr].pending--
}

// end removes the connection from the counts.
func (t *connTicket) end() {
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	c := t.l.byAddr[t.addr]
	if !t.loggedIn {
		t.l.nPend--
		c.pending--
	}
	if c.conns--; c.conns == 0 {
		delete(t.l.byAddr, t.addr)
	}
}
