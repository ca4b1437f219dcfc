package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/login"
)

// Listener ids, as seen in logs and metrics.
const (
	ListenerTCP = "tcp"
	ListenerTLS = "tls"
	ListenerWS  = "ws"
)

// readBufferSize is mochi's per-client read buffer.
const readBufferSize = 1024

// shutdownTimeout bounds the wait for clients to go at shutdown.
const shutdownTimeout = 10 * time.Second

// Broker is the gateway's MQTT broker. Create it with New; its methods are
// safe for concurrent use. Publish, Subscribe and Intercept work before Run,
// but stored retained messages are loaded only when Run starts.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	logins *login.Service
	roles  atomic.Pointer[map[string]Role] // built-in and config roles; SetRoles replaces them
	tlsCfg *tls.Config
	srv    *mochi.Server
	hook   *gateHook
	flow   *flowCtl

	ready   chan struct{}
	started atomic.Bool
	running atomic.Bool
	closing atomic.Bool

	mu       sync.Mutex
	tcp, tls *netListener
	store    *store
	conns    map[net.Conn]struct{}
	inline   map[string]*mochi.Client
	routers  chan *mochi.Client // idle inline clients for route

	accMu    sync.RWMutex
	acc      map[*mochi.Client]*access
	owner    map[string]*mochi.Client
	restored map[string]restoredAccess

	interceptMu sync.Mutex
	intercepts  atomic.Pointer[[]interceptor]
	nextID      atomic.Int64

	m counters
}

type interceptor struct {
	id int64
	fn func(origin, topic string, payload []byte, retain bool, qos byte) error
}

// New checks cfg and prepares a broker; it opens no socket and no file
// except the TLS key pair, which must load.
func New(cfg Config, log *slog.Logger, logins *login.Service) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqtt: invalid config: %w", err)
	}
	if logins == nil {
		return nil, errors.New("mqtt: no login service")
	}
	cfg = cfg.withDefaults()
	b := &Broker{
		cfg: cfg, log: log.With("component", "mqtt"), logins: logins,
		ready: make(chan struct{}), conns: map[net.Conn]struct{}{}, inline: map[string]*mochi.Client{},
		acc: map[*mochi.Client]*access{}, owner: map[string]*mochi.Client{}, restored: map[string]restoredAccess{},
		routers: make(chan *mochi.Client, 64),
	}
	roles := cfg.allRoles()
	b.roles.Store(&roles)
	if cfg.TLSAddr != "" {
		t, err := cfg.loadTLS()
		if err != nil {
			return nil, err
		}
		b.tlsCfg = t
	}
	caps := mochi.NewDefaultServerCapabilities()
	if cfg.MaxClients > 0 {
		caps.MaximumClients = int64(cfg.MaxClients)
	}
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	// mochi drops a message past its inflight quota after the publisher
	// was acknowledged; the gateway's own bound (flowCtl) applies before
	// the acknowledgement, so mochi's is set out of reach.
	caps.MaximumInflight = math.MaxUint16
	caps.MaximumClientWritesPending = int32(cfg.MaxQueued)
	wireCaps(caps)
	if cfg.MaxSessionExpiry > 0 {
		caps.MaximumSessionExpiryInterval = uint32(min(cfg.MaxSessionExpiry/time.Second, math.MaxUint32))
	}
	b.srv = mochi.New(&mochi.Options{
		Capabilities: caps,
		// Each client's bufio.Reader is allocated for its whole life; 1 KB
		// (mochi: 2 KB) still holds a dozen small packets per read.
		ClientNetReadBufferSize: readBufferSize,
		Logger:                  slog.New(quietHandler{b.log.Handler()}),
		InlineClient:            true,
	})
	b.srv.Info.Version = sysVersion(cfg.Version)
	b.hook = &gateHook{b: b}
	b.flow = newFlowCtl(b, cfg)
	return b, nil
}

// Ready is closed once every listener accepts connections.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// TCPAddr returns the bound address of the TCP listener (nil before Ready
// or without one).
func (b *Broker) TCPAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tcp == nil {
		return nil
	}
	return b.tcp.l.Addr()
}

// TLSAddr returns the bound address of the TLS listener, like TCPAddr.
func (b *Broker) TLSAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tls == nil {
		return nil
	}
	return b.tls.l.Addr()
}

// Healthy reports whether the broker is serving.
func (b *Broker) Healthy() bool { return b.running.Load() && !b.closing.Load() }

// Run opens the store, binds the listeners and serves until ctx is done.
// Then it stops accepting, sends MQTT 5 clients DISCONNECT "server shutting
// down" (MQTT 3 clients are closed), commits the store and returns nil.
// It can be called once.
func (b *Broker) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("mqtt: Run called twice")
	}
	if err := os.MkdirAll(b.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("mqtt: create data dir: %w", err)
	}
	st, err := openStore(filepath.Join(b.cfg.DataDir, "mqtt.db"), b.cfg.SyncInterval, b.log)
	if err != nil {
		return err
	}
	st.roleOf = b.roleOf
	st.restored = b.restored
	if err := b.start(st); err != nil {
		b.closeListeners()
		_ = st.Stop()
		return err
	}
	stopWatch, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		b.flow.watch(stopWatch)
	}()
	defer func() {
		close(stopWatch)
		<-watchDone
	}()
	b.running.Store(true)
	close(b.ready)
	attrs := []any{"tcp", b.TCPAddr()}
	if a := b.TLSAddr(); a != nil {
		attrs = append(attrs, "tls", a)
	}
	b.log.Info("broker ready", append(attrs, "store", filepath.Join(b.cfg.DataDir, "mqtt.db"), "sync_interval", b.cfg.SyncInterval)...)
	<-ctx.Done()
	b.shutdown()
	return nil
}

func (b *Broker) start(st *store) error {
	b.mu.Lock()
	b.store = st
	b.mu.Unlock()
	if err := b.srv.AddHook(b.hook, nil); err != nil {
		return fmt.Errorf("mqtt: add hook: %w", err)
	}
	if err := b.srv.AddHook(&wireHook{b: b, held: heldBack{b: b}}, nil); err != nil {
		return fmt.Errorf("mqtt: add wire hook: %w", err)
	}
	if err := b.srv.AddHook(st, nil); err != nil {
		return fmt.Errorf("mqtt: add store: %w", err)
	}
	type want struct {
		id, addr string
		tls      *tls.Config
		dst      **netListener
	}
	for _, w := range []want{{ListenerTCP, b.cfg.TCPAddr, nil, &b.tcp}, {ListenerTLS, b.cfg.TLSAddr, b.tlsCfg, &b.tls}} {
		if w.addr == "" {
			continue
		}
		l, err := listen(b, w.id, w.addr, w.tls)
		if err != nil {
			return err
		}
		b.mu.Lock()
		*w.dst = l
		b.mu.Unlock()
		if err := b.srv.AddListener(l); err != nil {
			return fmt.Errorf("mqtt: add listener %s: %w", w.id, err)
		}
	}
	if err := b.srv.AddListener(&wsListener{}); err != nil {
		return fmt.Errorf("mqtt: add listener ws: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt: load store: %w", err)
	}
	b.fixCounts()
	return nil
}

// fixCounts sets the subscription and inflight counts after the store was
// loaded (mochi restores them from its $SYS record, which we do not keep).
func (b *Broker) fixCounts() {
	var subs, inflight int64
	for _, cl := range b.srv.Clients.GetAll() {
		subs += int64(cl.State.Subscriptions.Len())
		inflight += int64(cl.State.Inflight.Len())
	}
	atomic.StoreInt64(&b.srv.Info.Subscriptions, subs)
	atomic.StoreInt64(&b.srv.Info.Inflight, inflight)
}

func (b *Broker) closeListeners() {
	b.mu.Lock()
	ls := []*netListener{b.tcp, b.tls}
	b.mu.Unlock()
	for _, l := range ls {
		if l != nil {
			l.stop()
		}
	}
}

func (b *Broker) shutdown() {
	b.closing.Store(true)
	b.closeListeners()
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() {
			continue
		}
		if cl.Properties.ProtocolVersion == 5 {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		} else {
			cl.Stop(packets.ErrServerShuttingDown)
		}
	}
	// Connections still logging in get no DISCONNECT; close them.
	b.mu.Lock()
	for c := range b.conns {
		if !b.connected(c) {
			_ = c.Close()
		}
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		_ = b.srv.Close() // waits for client goroutines, then stops the store
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		b.log.Warn("clients slow to disconnect; closing their connections")
		b.mu.Lock()
		for c := range b.conns {
			_ = c.Close()
		}
		b.mu.Unlock()
		select {
		case <-done:
		case <-time.After(shutdownTimeout):
			b.log.Error("broker did not stop in time; store may miss the last changes")
		}
	}
	b.running.Store(false)
	b.log.Info("broker stopped")
}

// connected reports whether conn belongs to a client past CONNECT.
// b.mu is held.
func (b *Broker) connected(c net.Conn) bool {
	b.accMu.RLock()
	defer b.accMu.RUnlock()
	for cl := range b.acc {
		if cl.Net.Conn == c {
			return true
		}
	}
	return false
}

// ServeConn serves one MQTT connection accepted elsewhere (the WebSocket
// endpoint) as listener "ws". It blocks until the connection ends and
// returns nil after a normal disconnect. conn.RemoteAddr must be the
// client's real address: logins are bound to it.
func (b *Broker) ServeConn(conn net.Conn) error {
	if !b.running.Load() || b.closing.Load() {
		_ = conn.Close()
		return errors.New("mqtt: broker not serving")
	}
	err := b.serve(ListenerWS, conn)
	if err != nil {
		return fmt.Errorf("mqtt: ws connection from %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// serve runs one connection through mochi, with a deadline for CONNECT.
// The first fixed header is read here: anything but a CONNECT of at most
// maxConnectSize bytes closes the connection before mochi allocates the
// packet or the client, so silent or hostile connections cost only this
// goroutine until the deadline.
func (b *Broker) serve(listener string, conn net.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(b.cfg.ConnectTimeout))
	var c net.Conn = conn // the entry in b.conns: conn, then what mochi's client holds
	b.mu.Lock()
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	hdr, err := readConnectHeader(conn, min(maxConnectSize, b.cfg.MaxPacketSize))
	if err != nil {
		_ = conn.Close()
		return err
	}
	pc := newPrefixConn(conn, hdr, b.cfg.StallTimeout)
	pc.onStall = func(error) {
		b.flow.kicked.Add(1)
		id := ""
		for _, cl := range b.srv.Clients.GetAll() { // a rare event: a scan is fine
			if cl.Net.Conn == net.Conn(pc) {
				id = cl.ID
				break
			}
		}
		b.log.Warn("slow client disconnected: a write was blocked for the stall timeout", "client", id,
			"listener", listener, "addr", conn.RemoteAddr(), "limit", b.cfg.StallTimeout)
	}
	b.mu.Lock()
	delete(b.conns, c)
	c = pc
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	return b.srv.EstablishConnection(listener, pc)
}

// setAccess records cl's access rules; an earlier connection with the
// same client id loses its rules (it is about to be taken over).
func (b *Broker) setAccess(cl *mochi.Client, a *access) {
	b.accMu.Lock()
	defer b.accMu.Unlock()
	if prev, ok := b.owner[cl.ID]; ok && prev != cl {
		delete(b.acc, prev)
	}
	b.acc[cl] = a
	b.owner[cl.ID] = cl
}

func (b *Broker) accessOf(cl *mochi.Client) *access {
	b.accMu.RLock()
	a := b.acc[cl]
	b.accMu.RUnlock()
	return a
}

func (b *Broker) dropAccess(cl *mochi.Client) {
	b.accMu.Lock()
	defer b.accMu.Unlock()
	delete(b.acc, cl)
	if b.owner[cl.ID] == cl {
		delete(b.owner, cl.ID)
	}
}

// sessionEnded runs when a connection ends, and for each session loaded
// from the store (which brings back its access rules).
func (b *Broker) sessionEnded(cl *mochi.Client, expire bool) {
	if expire || cl.IsTakenOver() {
		b.dropAccess(cl)
		return
	}
	if b.accessOf(cl) != nil {
		return
	}
	r, ok := b.restored[cl.ID] // only written before Serve returns
	if !ok {
		return
	}
	role, ok := (*b.roles.Load())[r.role]
	if !ok {
		b.log.Warn("stored session has an unknown role; its messages are held back until it reconnects", "client", cl.ID, "role", r.role)
		return
	}
	b.setAccess(cl, newAccess(r.role, role, r.user, cl.ID))
}

// storeHook returns the store once Run has opened it.
func (b *Broker) storeHook() *store {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store
}

func (b *Broker) roleOf(cl *mochi.Client) (user, role string) {
	if a := b.accessOf(cl); a != nil {
		return a.user, a.role
	}
	return "", ""
}

// SetRoles replaces the roles defined by the configuration (the built-in
// ones stay). Clients that connect afterwards get the new rules; connected
// clients keep the rules they logged in with until they reconnect. It is
// safe to call while the broker runs.
func (b *Broker) SetRoles(roles map[string]Role) error {
	cfg := b.cfg
	cfg.Roles = roles
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("mqtt: roles: %w", err)
	}
	all := cfg.allRoles()
	b.roles.Store(&all)
	return nil
}
