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
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/field"
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
//
// It is made of parts that each own their state (see doc.go, "Inside"):
// the access table, flow control, the store, the listeners, the inline
// clients and the interceptors; its mochi hooks hold the parts they use.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	srv   *mochi.Server
	store *store

	access     *accessTable
	flow       *flowCtl
	lis        *listenerSet
	local      *inlineClients
	intercepts *interceptors
	responders responders
	hook       *gateHook
	flowHook   *flowHook
	wireHook   *wireHook
	retained   *retainGuard // retained writes apart from scans (retain.go)

	ready   chan struct{}
	started atomic.Bool
	running atomic.Bool
	closing atomic.Bool
	nextSub atomic.Int64 // ids of Subscribe's subscriptions
}

// New checks cfg and prepares a broker; it opens no socket and no file
// except the TLS key pair, which must load.
func New(cfg Config, log *slog.Logger, logins *login.Service) (*Broker, error) {
	cfg = cfg.WithDefaults()
	if err := errors.Join(cfg.Validate(), field.Prefix("roles", ValidateRoles(cfg.Roles))); err != nil {
		return nil, fmt.Errorf("mqtt: invalid config: %w", err)
	}
	if logins == nil {
		return nil, errors.New("mqtt: no login service")
	}
	var tlsCfg *tls.Config
	if cfg.TLSAddr != "" {
		t, err := cfg.loadTLS()
		if err != nil {
			return nil, err
		}
		tlsCfg = t
	}
	log = log.With("component", "mqtt")
	b := &Broker{cfg: cfg, log: log, ready: make(chan struct{}), intercepts: &interceptors{}}
	b.srv = mochi.New(&mochi.Options{
		Capabilities: capabilities(cfg),
		// Each client's bufio.Reader is allocated for its whole life; 1 KB
		// (mochi: 2 KB) still holds a dozen small packets per read.
		ClientNetReadBufferSize: readBufferSize,
		Logger:                  slog.New(quietHandler{log.Handler()}),
		InlineClient:            true,
	})
	b.access = newAccessTable(cfg.allRoles(), log)
	b.store = newStore(filepath.Join(cfg.DataDir, "mqtt.db"), cfg.SyncInterval, b.access, log)
	b.flow = newFlowCtl(cfg, b.srv.Info, b.store, log)
	if !b.flow.wq.ok {
		log.Warn("mochi's client write queue not found (mochi changed?): QoS 0 messages to a full queue are dropped at once")
	}
	b.lis = newListenerSet(cfg, tlsCfg, b.srv, b.flow, log)
	b.local = newInlineClients(b.srv)
	b.hook = &gateHook{cfg: cfg, log: log, logins: logins, access: b.access, clients: b.srv.Clients,
		subs: newSubQuota(cfg.MaxSubscriptions), flow: b.flow, intercepts: b.intercepts, local: b.local,
		requests: &b.responders, closing: &b.closing}
	b.flowHook = &flowHook{flow: b.flow}
	b.wireHook = &wireHook{srv: b.srv, maxKeepalive: cfg.MaxKeepalive, flow: b.flow, refused: &b.hook.m.refused,
		packetIDs: &clientPacketIDs{ok: reservePacketIDs(b.srv.Options.Capabilities, aliasIDs)},
		pubrel:    pubrelQuota{q: newSendQuota()}}
	if !b.wireHook.pubrel.q.ok {
		log.Warn("mochi's send quota not found (mochi changed?): a client's own QoS 2 message gives the server one more message in flight than its Receive Maximum")
	}
	if !b.wireHook.packetIDs.ok {
		log.Warn("mochi's packet id limit not found (mochi changed?): a client packet with the id of a message in flight to it is taken for that message")
	}
	b.store.packetIDs = b.wireHook.packetIDs
	b.retained = &retainGuard{}
	b.srv.Info.Version = sysVersion(cfg.Version)
	return b, nil
}

// capabilities returns mochi's limits for cfg.
func capabilities(cfg Config) *mochi.Capabilities {
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
	return caps
}

// Ready is closed once every listener accepts connections.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// TCPAddr returns the bound address of the TCP listener (nil before Ready
// or without one).
func (b *Broker) TCPAddr() net.Addr { return b.lis.addr(ListenerTCP) }

// TLSAddr returns the bound address of the TLS listener, like TCPAddr.
func (b *Broker) TLSAddr() net.Addr { return b.lis.addr(ListenerTLS) }

// Healthy reports whether the broker is serving.
func (b *Broker) Healthy() bool { return b.running.Load() && !b.closing.Load() }

// Listeners are sockets the caller bound, for Serve. A nil field means
// that listener is off. The broker wraps TLS around the TLS one itself.
type Listeners struct {
	TCP, TLS net.Listener
}

// Run binds the listeners of the config and then serves like Serve.
func (b *Broker) Run(ctx context.Context) error {
	var ls Listeners
	for _, w := range []struct {
		id, addr string
		dst      *net.Listener
	}{{ListenerTCP, b.cfg.TCPAddr, &ls.TCP}, {ListenerTLS, b.cfg.TLSAddr, &ls.TLS}} {
		if w.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", w.addr)
		if err != nil {
			ls.close()
			return fmt.Errorf("mqtt: listen %s on %s: %w", w.id, w.addr, err)
		}
		*w.dst = l
	}
	return b.Serve(ctx, ls)
}

func (ls Listeners) close() {
	for _, l := range []net.Listener{ls.TCP, ls.TLS} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// Serve opens the store and serves on ls until ctx is done. Then it stops
// accepting, sends MQTT 5 clients DISCONNECT "server shutting down" (MQTT 3
// clients are closed), commits the store and returns nil. It closes the
// listeners of ls in every case. Run or Serve can be called once.
func (b *Broker) Serve(ctx context.Context, ls Listeners) error {
	if !b.started.CompareAndSwap(false, true) {
		ls.close()
		return errors.New("mqtt: Run or Serve called twice")
	}
	if (ls.TLS != nil) != (b.lis.tlsCfg != nil) {
		ls.close()
		return errors.New("mqtt: serve: a TLS listener needs mqtt.tls_addr in the config and the other way round")
	}
	if err := os.MkdirAll(b.cfg.DataDir, 0o750); err != nil {
		ls.close()
		return fmt.Errorf("mqtt: create data dir: %w", err)
	}
	if err := b.store.open(); err != nil {
		ls.close()
		return err
	}
	if err := b.start(ls); err != nil {
		ls.close()
		b.lis.stop()
		_ = b.store.Stop()
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
	usersCtx, stopUsers := context.WithCancel(ctx)
	usersDone := make(chan struct{})
	go func() {
		defer close(usersDone)
		b.watchUsers(usersCtx)
	}()
	defer func() {
		stopUsers()
		<-usersDone
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

func (b *Broker) start(ls Listeners) error {
	// wireHook after flowHook: its OnPublishDropped reads what the flow
	// control decided. The retained guard's writes after every OnPublish
	// and OnWill hook and before the store, its scans after the store
	// (retain.go).
	writes := &retainWrites{g: b.retained, available: b.srv.Options.Capabilities.RetainAvailable != 0}
	scans := &retainScans{g: b.retained}
	for _, h := range []mochi.Hook{b.hook, b.flowHook, b.wireHook, writes, b.store, scans} {
		if err := b.srv.AddHook(h, nil); err != nil {
			return fmt.Errorf("mqtt: add hook %s: %w", h.ID(), err)
		}
	}
	if err := b.lis.open(ls); err != nil {
		return err
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt: load store: %w", err)
	}
	b.fixCounts()
	return nil
}

// fixCounts sets the subscription and inflight counts after the store was
// loaded (mochi restores them from its $SYS record, which we do not keep),
// and the flow state of sessions stored at the bound.
func (b *Broker) fixCounts() {
	var subs, inflight int64
	for _, cl := range b.srv.Clients.GetAll() {
		subs += int64(cl.State.Subscriptions.Len())
		inflight += int64(cl.State.Inflight.Len())
		b.flow.queued(cl) // a session stored at the bound is congested
	}
	atomic.StoreInt64(&b.srv.Info.Subscriptions, subs)
	atomic.StoreInt64(&b.srv.Info.Inflight, inflight)
}

func (b *Broker) shutdown() {
	b.closing.Store(true)
	b.lis.stop()
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
	b.lis.closeConns(b.access.connected)
	done := make(chan struct{})
	go func() {
		_ = b.srv.Close() // waits for client goroutines, then stops the store
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		b.log.Warn("clients slow to disconnect; closing their connections")
		b.lis.closeConns(nil)
		select {
		case <-done:
		case <-time.After(shutdownTimeout):
			b.log.Error("broker did not stop in time; store may miss the last changes")
		}
	}
	b.running.Store(false)
	b.log.Info("broker stopped")
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
	err := b.lis.serve(ListenerWS, conn, nil) // the WebSocket endpoint has its own limits
	if err != nil {
		return fmt.Errorf("mqtt: ws connection from %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// storeHook returns the store (open while Run runs).
func (b *Broker) storeHook() *store { return b.store }

// SetRoles replaces the roles defined by the configuration (the built-in
// ones stay). Clients that connect afterwards get the new rules; connected
// clients keep the rules they logged in with until they reconnect. It is
// safe to call while the broker runs.
func (b *Broker) SetRoles(roles map[string]Role) error {
	cfg := b.cfg
	cfg.Roles = roles
	if err := errors.Join(ValidateRoles(roles), cfg.validateAnonymousRole()); err != nil {
		return fmt.Errorf("mqtt: roles: %w", err)
	}
	b.access.setRoles(cfg.allRoles())
	return nil
}
