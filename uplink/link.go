package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"mqttgate/field"
)

// Uplink bridges the local broker to one upstream broker (see
// Config). Messages matched by an out rule at QoS 1 or 2 are stored
// in a disk queue in the data dir (DATA_DIR/uplink-<name>.db) before the
// local publisher is acknowledged and leave it only when the upstream
// acknowledges them, so a dead link, a restart or a power cut loses
// nothing that was accepted; order is kept. QoS 0 messages are sent while
// connected and dropped (counted) while not. Messages from the upstream
// matched by in rules are published locally with origin "uplink:<name>";
// messages with that origin are never sent back up.
//
// Create it with New and start it with Run, once. Its methods are
// safe for concurrent use; it is also a prometheus.Collector.
type Link struct {
	cfg         Config // with defaults
	log         *slog.Logger
	broker      Broker
	gatewayID   string
	dbPath      string
	origin      string
	stateTopic  string
	statusTopic string
	tlsConf     *tls.Config
	rand        func() float64 // jitter source; tests may replace it
	stateEvery  time.Duration

	q    atomic.Pointer[queue]    // nil unless Run is running with the queue on
	live atomic.Pointer[liveLink] // nil while not connected

	connected  atomic.Bool
	sent       atomic.Int64 // acknowledged (QoS 1/2) or written (QoS 0) upstream
	received   atomic.Int64 // from the upstream, published locally
	droppedOff atomic.Int64 // dropped because the link was down or too slow
	refused    atomic.Int64 // local publishes refused: the queue could not store them
	connects   atomic.Int64
	// droppedQueueBefore keeps queue-limit drops of finished Runs.
	droppedQueueBefore atomic.Int64

	mu        sync.Mutex
	lastError string
	since     time.Time // of the last connect or disconnect

	openMu sync.Mutex
	unhook func() // non-nil while open: removes the broker hook, closes the queue
}

var _ prometheus.Collector = (*Link)(nil)

// liveLink carries messages that bypass the queue (QoS 0, or all when the
// queue is disabled) to the current connection.
type liveLink struct {
	ch chan liveMsg
}

type liveMsg struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
}

// liveBuffer is how many bypassing messages may wait for the connection
// before more are dropped.
const liveBuffer = 1024

// liveWait is how long a QoS 1/2 message without the queue waits for room
// in the live buffer before it is dropped.
const liveWait = 5 * time.Second

// New checks cfg, loads the TLS files and returns an Uplink that
// has not started anything. gatewayID is the topic root (<gw>/status,
// <gw>/uplink/<name>/state); the queue file is created in dataDir by Run.
func New(cfg Config, log *slog.Logger, broker Broker, gatewayID, dataDir string) (*Link, error) {
	cfg = cfg.WithDefaults(gatewayID)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("uplink: uplink %q: %w", cfg.Name, err)
	}
	if broker == nil || log == nil {
		return nil, errors.New("uplink: nil broker or logger")
	}
	if gatewayID == "" {
		return nil, errors.New("uplink: empty gateway id")
	}
	if dataDir == "" && !cfg.Queue.Disabled {
		return nil, fmt.Errorf("uplink: uplink %q: no data dir for the queue", cfg.Name)
	}
	u := &Link{
		cfg:        cfg,
		log:        log.With("component", "uplink", "uplink", cfg.Name),
		broker:     broker,
		gatewayID:  gatewayID,
		dbPath:     filepath.Join(dataDir, "uplink-"+cfg.Name+".db"),
		origin:     "uplink:" + cfg.Name,
		stateTopic: gatewayID + "/uplink/" + cfg.Name + "/state",
		rand:       rand.Float64,
		stateEvery: 2 * time.Second,
	}
	u.statusTopic = cfg.StatusTopic
	if u.statusTopic == "" {
		u.statusTopic = gatewayID + "/status"
		if remote, _, ok := mapOut(cfg.Topics, u.statusTopic); ok {
			u.statusTopic = remote
		}
	}
	tc, err := cfg.LoadTLS()
	if err != nil {
		return nil, fmt.Errorf("uplink: uplink %q: %w", cfg.Name, err)
	}
	u.tlsConf = tc
	return u, nil
}

// LoadTLS builds the TLS config from ca_file, cert_file and key_file; its
// errors are *field.Error. New calls it, and so does the gateway's config
// check, so both refuse the same files.
func (cfg Config) LoadTLS() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, field.Errorf("ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, field.Errorf("ca_file", "%s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, field.Errorf("cert_file", "load client certificate: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Origin is the origin id the uplink publishes locally with.
func (u *Link) Origin() string { return u.origin }

// Open opens the queue and hooks into the local broker: from then on
// every message the broker accepts for an `out` rule reaches the uplink
// (its queue, for QoS 1/2), even before Run connects upstream. The gateway
// opens its uplinks before the broker's listeners, so that nothing
// acknowledged at startup misses them. Run opens the uplink itself if
// Open was not called; a second Open does nothing.
func (u *Link) Open() error {
	u.openMu.Lock()
	defer u.openMu.Unlock()
	if u.unhook != nil {
		return nil
	}
	var q *queue
	if !u.cfg.Queue.Disabled {
		var err error
		q, err = openQueue(u.dbPath, u.cfg.Queue.MaxBytes, u.cfg.Queue.MaxAge, u.log)
		if err != nil {
			return fmt.Errorf("uplink: uplink %q: %w", u.cfg.Name, err)
		}
		if n := q.depth.Load(); n > 0 {
			u.log.Info("queue holds messages from before", "messages", n, "bytes", q.bytes.Load())
		}
		u.q.Store(q)
	}
	remove := u.broker.Intercept(u.intercept)
	u.unhook = func() {
		remove()
		if q != nil {
			u.q.Store(nil)
			u.droppedQueueBefore.Add(q.dropped.Load())
			q.close()
		}
	}
	return nil
}

// Close removes the broker hook and closes the queue (if open). Run does
// it when it returns; it is for an uplink opened but never run.
func (u *Link) Close() {
	u.openMu.Lock()
	defer u.openMu.Unlock()
	if u.unhook != nil {
		u.unhook()
		u.unhook = nil
	}
}

// Run opens the uplink (see Open) and keeps the link to the upstream up,
// reconnecting with exponential back-off and jitter, until ctx is
// cancelled. On return the hook is removed and the queue is closed;
// queued messages stay on disk for the next Run. It returns nil on a
// normal stop and an error only if the queue cannot be opened.
func (u *Link) Run(ctx context.Context) error {
	if err := u.Open(); err != nil {
		return err
	}
	defer u.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { u.publishState(sctx) })

	attempt := 0
	for {
		up, err := u.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			attempt = 0
		}
		u.setError(err)
		d := backoffDelay(attempt, u.cfg.ReconnectMin, u.cfg.ReconnectMax, u.rand)
		attempt++
		u.log.Warn("upstream link down", "url", redactURL(u.cfg.URL), "retry_in", d.Round(time.Millisecond), "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// intercept is called by the broker for every accepted message, before
// the publisher is acknowledged.
func (u *Link) intercept(origin, topic string, payload []byte, retain bool, qos byte) error {
	if origin == u.origin {
		return nil // came from this upstream (or is our state): no loop
	}
	remote, rule, ok := mapOut(u.cfg.Topics, topic)
	if !ok {
		return nil
	}
	q := min(qos, byte(rule.QoS))
	if q == 2 && !u.cfg.CleanSession {
		// A new connection to a kept session may reuse a packet id the
		// upstream still holds as an unreleased QoS 2 message, which it
		// would then discard; QoS 1 plus the queue is at least once.
		q = 1
	}
	queue := u.q.Load()
	if q == 0 || u.cfg.Queue.Disabled {
		l := u.live.Load()
		if l == nil {
			u.droppedOff.Add(1)
			return nil
		}
		m := liveMsg{topic: remote, payload: append([]byte(nil), payload...), qos: q, retain: retain}
		select {
		case l.ch <- m:
			return nil
		default:
		}
		if q > 0 {
			// Without the queue, QoS 1/2 publishers are slowed down to
			// the link's pace (their acknowledgement waits) rather than
			// dropped, as long as the link is up.
			t := time.NewTimer(liveWait)
			defer t.Stop()
			select {
			case l.ch <- m:
				return nil
			case <-t.C:
			}
		}
		u.droppedOff.Add(1)
		return nil
	}
	if queue == nil {
		u.refused.Add(1)
		return fmt.Errorf("uplink: uplink %q: not running, cannot queue %s", u.cfg.Name, topic)
	}
	if size := int64(len(remote) + len(payload) + 32); size > queue.maxBytes/2 {
		u.refused.Add(1)
		return fmt.Errorf("uplink: uplink %q: message of %d bytes is too big for the queue (max_bytes %d)", u.cfg.Name, size, queue.maxBytes)
	}
	_, err := queue.put(record{QoS: q, Retain: retain, Time: time.Now(), Topic: remote, Payload: payload})
	if err != nil {
		u.refused.Add(1)
		u.log.Error("cannot queue message; refusing it", "topic", topic, "err", err)
		return fmt.Errorf("uplink: uplink %q: queue message: %w", u.cfg.Name, err)
	}
	return nil
}

func (u *Link) setError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.lastError = ""
	} else {
		u.lastError = err.Error()
	}
}

func (u *Link) setConnected(up bool) {
	u.connected.Store(up)
	u.mu.Lock()
	u.since = time.Now()
	u.mu.Unlock()
}

// newClient returns a paho client for one connection attempt. paho keeps
// nothing across connections (memory store, no auto reconnect): the disk
// queue is the only record of what must still be sent.
func (u *Link) newClient(lost chan<- error) paho.Client {
	o := paho.NewClientOptions().
		AddBroker(u.cfg.URL).
		SetClientID(u.cfg.ClientID).
		SetUsername(u.cfg.Username).
		SetPassword(u.cfg.Password).
		SetCleanSession(u.cfg.CleanSession).
		SetKeepAlive(u.cfg.KeepAlive).
		SetPingTimeout(min(u.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetWriteTimeout(30*time.Second).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetProtocolVersion(4).
		SetStore(paho.NewMemoryStore()).
		SetOrderMatters(true).
		SetTLSConfig(u.tlsConf.Clone()).
		SetWill(u.statusTopic, "offline", 1, true).
		SetDefaultPublishHandler(u.fromUpstream).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	return paho.NewClient(o)
}

// fromUpstream publishes a message from the upstream locally. It runs on
// paho's delivery goroutine.
func (u *Link) fromUpstream(_ paho.Client, m paho.Message) {
	local, _, ok := mapIn(u.cfg.Topics, m.Topic())
	if !ok {
		return
	}
	if err := u.broker.Publish(u.origin, local, m.Payload(), m.Retained(), m.Qos()); err != nil {
		u.log.Warn("publish upstream message locally", "topic", local, "err", err)
		return
	}
	u.received.Add(1)
}
