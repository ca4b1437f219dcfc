package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// listenerSet owns the broker's TCP and TLS listeners and every
// connection they (and ServeConn) hand to mochi, from accept to close.
// Its methods are safe for concurrent use.
type listenerSet struct {
	cfg    Config
	tlsCfg *tls.Config
	log    *slog.Logger
	srv    *mochi.Server
	flow   *flowCtl // counts the connections closed for a stalled write
	limits *connLimits

	mu       sync.Mutex
	tcp, tls *netListener
	conns    map[net.Conn]struct{} // connections being served
}

func newListenerSet(cfg Config, tlsCfg *tls.Config, srv *mochi.Server, flow *flowCtl, log *slog.Logger) *listenerSet {
	return &listenerSet{cfg: cfg, tlsCfg: tlsCfg, log: log, srv: srv, flow: flow, limits: newConnLimits(cfg),
		conns: map[net.Conn]struct{}{}}
}

// open adds the TCP and TLS listeners of ls (bound by the caller; TLS is
// added here) and the stand-in for the WebSocket endpoint to mochi.
func (s *listenerSet) open(ls Listeners) error {
	for _, w := range []struct {
		id  string
		l   net.Listener
		tls *tls.Config
		dst **netListener
	}{{ListenerTCP, ls.TCP, nil, &s.tcp}, {ListenerTLS, ls.TLS, s.tlsCfg, &s.tls}} {
		if w.l == nil {
			continue
		}
		l := wrap(s, w.id, w.l, w.tls)
		s.mu.Lock()
		*w.dst = l
		s.mu.Unlock()
		if err := s.srv.AddListener(l); err != nil {
			return fmt.Errorf("mqtt: add listener %s: %w", w.id, err)
		}
	}
	if err := s.srv.AddListener(&wsListener{}); err != nil {
		return fmt.Errorf("mqtt: add listener ws: %w", err)
	}
	return nil
}

// addr returns the bound address of the listener id (ListenerTCP or
// ListenerTLS; nil if it is not bound).
func (s *listenerSet) addr(id string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.tcp
	if id == ListenerTLS {
		l = s.tls
	}
	if l == nil {
		return nil
	}
	return l.l.Addr()
}

// stop closes the listeners; connections stay.
func (s *listenerSet) stop() {
	s.mu.Lock()
	ls := []*netListener{s.tcp, s.tls}
	s.mu.Unlock()
	for _, l := range ls {
		if l != nil {
			l.stop()
		}
	}
}

// closeConns closes the connections served, all of them or, with
// keep, those for which keep is false.
func (s *listenerSet) closeConns(keep func(net.Conn) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if keep == nil || !keep(c) {
			_ = c.Close()
		}
	}
}

// serve runs one connection through mochi, with a deadline for CONNECT.
// The CONNECT is read here, in small steps (readConnect): anything but a
// CONNECT of at most maxConnectSize bytes closes the connection before
// mochi allocates the packet or the client, so silent or hostile
// connections cost this goroutine and the bytes they sent until the
// deadline. ticket, if not nil, counts the connection in the limits until
// it ends (and as pending until it logs in).
func (s *listenerSet) serve(listener string, conn net.Conn, ticket *connTicket) error {
	if ticket != nil {
		defer ticket.end()
	}
	_ = conn.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	var c net.Conn = conn // the entry in s.conns: conn, then what mochi's client holds
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	pk, err := readConnect(conn, min(maxConnectSize, s.cfg.MaxPacketSize))
	if err != nil {
		_ = conn.Close()
		return err
	}
	pc := newPrefixConn(conn, pk, s.cfg.StallTimeout)
	if ticket != nil {
		pc.onLogin = ticket.login
	}
	pc.wait = s.cfg.PublishWait
	pc.onStall = func(why string) { s.stalled(listener, pc, conn.RemoteAddr(), why) }
	s.mu.Lock()
	delete(s.conns, c)
	c = pc
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return s.srv.EstablishConnection(listener, pc)
}

// stalled counts and logs a connection closed for a write blocked for the
// stall timeout.
func (s *listenerSet) stalled(listener string, pc *prefixConn, remote net.Addr, why string) {
	s.flow.kicked.Add(1)
	id := ""
	for _, cl := range s.srv.Clients.GetAll() { // a rare event: a scan is fine
		if cl.Net.Conn == net.Conn(pc) {
			id = cl.ID
			break
		}
	}
	s.log.Warn("slow client disconnected: "+why, "client", id,
		"listener", listener, "addr", remote, "stall_timeout", s.cfg.StallTimeout)
}

// netListener is a TCP (optionally TLS) listener for mochi that bounds the
// time to CONNECT and logs refused connections at debug level only.
type netListener struct {
	set  *listenerSet
	id   string
	l    net.Listener
	once sync.Once
	log  *slog.Logger
}

var (
	_ listeners.Listener = (*netListener)(nil)
	_ listeners.Listener = (*wsListener)(nil)
)

// wrap makes l a listener for mochi, with TLS when t is not nil.
func wrap(set *listenerSet, id string, l net.Listener, t *tls.Config) *netListener {
	if t != nil {
		l = tls.NewListener(l, t)
	}
	return &netListener{set: set, id: id, l: l, log: set.log.With("listener", id)}
}

func (n *netListener) ID() string              { return n.id }
func (n *netListener) Address() string         { return n.l.Addr().String() }
func (n *netListener) Protocol() string        { return n.id }
func (n *netListener) Init(*slog.Logger) error { return nil }

func (n *netListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := n.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				n.log.Error("accept failed; listener stopped", "err", err)
			}
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		ticket, why := n.set.limits.admit(conn.RemoteAddr())
		if ticket == nil {
			n.log.Debug("connection refused", "remote", conn.RemoteAddr().String(), "limit", why)
			_ = conn.Close()
			continue
		}
		go func() {
			if err := n.set.serve(n.id, conn, ticket); err != nil {
				n.log.Debug("connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (n *netListener) stop() { n.once.Do(func() { _ = n.l.Close() }) }

func (n *netListener) Close(closeClients listeners.CloseFn) {
	n.stop()
	closeClients(n.id)
}

// wsListener stands for the WebSocket endpoint, whose connections arrive
// through Broker.ServeConn; it exists so that shutdown reaches them.
type wsListener struct{}

func (wsListener) ID() string                           { return ListenerWS }
func (wsListener) Address() string                      { return "" }
func (wsListener) Protocol() string                     { return "ws" }
func (wsListener) Init(*slog.Logger) error              { return nil }
func (wsListener) Serve(listeners.EstablishFn)          {}
func (wsListener) Close(closeClients listeners.CloseFn) { closeClients(ListenerWS) }
