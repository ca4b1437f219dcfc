package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"mqttgate/field"
	"mqttgate/topics"
)

// Role grants access to topics. Each entry is an MQTT topic filter in which
// %u stands for the client's username and %c for its client id. Deny wins
// over Read and Write.
type Role struct {
	// Read lists the filters the client may subscribe to and receive from.
	Read []string `yaml:"read"`
	// Write lists the filters the client may publish to.
	Write []string `yaml:"write"`
	// Deny lists filters the client may neither read nor write.
	Deny []string `yaml:"deny"`
}

// BuiltinRoles returns the roles every gateway has. A config may add roles
// but not redefine these.
func BuiltinRoles() map[string]Role {
	return map[string]Role{
		"admin":    {Read: []string{"#", "$SYS/#"}, Write: []string{"#"}},
		"operator": {Read: []string{"#", "$SYS/#"}, Write: []string{"+/actuators/+/set"}},
		"viewer":   {Read: []string{"#", "$SYS/#"}},
		"device":   {Read: []string{"devices/%u/#"}, Write: []string{"devices/%u/#"}},
	}
}

// Config configures the broker. The zero value is usable once TCPAddr and
// DataDir are set; zero fields mean their defaults (WithDefaults).
type Config struct {
	// TCPAddr is the plain MQTT listener, e.g. "127.0.0.1:1883". Empty
	// disables it.
	TCPAddr string `yaml:"addr"`
	// TLSAddr is the MQTT-over-TLS listener, e.g. ":8883". Empty disables
	// it; when set, TLSCert and TLSKey name a PEM certificate and key.
	TLSAddr string `yaml:"tls_addr"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`

	// DataDir holds the persistent store (mqtt.db). Required.
	DataDir string `yaml:"-"`
	// SyncInterval trades durability for fewer writes. 0 (the zero value)
	// commits and fsyncs every change before the broker goes on: nothing
	// acknowledged is lost, even on power loss. A positive value gathers
	// changes in memory and commits them once per interval: up to one
	// interval of changes is lost on a crash, kill -9 or power loss, and
	// the SD card sees one write burst per interval at most.
	SyncInterval time.Duration `yaml:"sync_interval"`

	// AllowAnonymous lets clients without a username in with AnonymousRole.
	AllowAnonymous bool   `yaml:"allow_anonymous"`
	AnonymousRole  string `yaml:"anonymous_role"`
	// Roles adds roles to the built-in ones (BuiltinRoles).
	Roles map[string]Role `yaml:"-"`

	// InBandTimeout bounds the chap1 in-band exchange (default 10s).
	InBandTimeout time.Duration `yaml:"in_band_timeout"`
	// ConnectTimeout bounds the time from accept to CONNECT (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// PlainOnWebSocket accepts plain passwords on the "ws" listener.
	PlainOnWebSocket bool `yaml:"plain_on_websocket"`

	// MaxClients bounds logged-in clients on every listener (0: 1024).
	MaxClients int `yaml:"max_clients"`
	// MaxConnectionsPerAddr bounds the TCP and TLS connections from one
	// source address, logged in or not (0: 64); more are closed at accept.
	MaxConnectionsPerAddr int `yaml:"max_connections_per_addr"`
	// MaxPendingConnections bounds the TCP and TLS connections that have
	// not logged in yet (0: 256), and MaxPendingConnectionsPerAddr those
	// from one source address (0: 16); more are closed at accept. Each
	// holds at most the CONNECT bytes it has sent.
	MaxPendingConnections        int `yaml:"max_pending_connections"`
	MaxPendingConnectionsPerAddr int `yaml:"max_pending_connections_per_addr"`
	// MaxSubscriptions bounds the subscriptions of one client (0: 1024);
	// a SUBSCRIBE past it gets reason 0x97 (quota exceeded; MQTT 3.1.1:
	// 0x80) for each filter beyond.
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// MaxPacketSize bounds an MQTT packet in bytes (0: 1 MiB). It is
	// checked on the fixed header, before the packet's memory is taken,
	// so a declared 256 MB length costs nothing.
	MaxPacketSize int `yaml:"max_packet_size"`
	// MaxInflight bounds the QoS 1/2 messages a session holds (sent and
	// not yet acknowledged, or waiting to be sent); at the bound,
	// publishers to its topics wait (PublishWait), then are refused
	// (0: 1024; at most 32768 is used).
	MaxInflight int `yaml:"max_inflight"`
	// MaxQueued bounds the messages waiting to be written to one client
	// (mochi allocates the queue, 8 bytes a slot, for every client). A
	// publisher that finds it full waits for room (up to 250 ms; then the
	// client counts as stuck until its queue drains to half): QoS 0 is
	// then dropped and counted, QoS 1/2 waits in the session (0: 128).
	MaxQueued int `yaml:"max_queued"`
	// PublishWait bounds how long a QoS 1/2 publisher is held before its
	// acknowledgement while a connected subscriber's backlog is at
	// MaxInflight (default 5s; 0 in YAML means the default).
	PublishWait time.Duration `yaml:"publish_wait"`
	// StallTimeout disconnects a client whose backlog stays at
	// MaxInflight without an acknowledgement, or whose write queue keeps
	// overflowing, this long (default 30s). Its persistent session keeps
	// the messages.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// MaxSessionExpiry bounds how long a disconnected persistent session
	// is kept (0: no limit).
	MaxSessionExpiry time.Duration `yaml:"max_session_expiry"`
	// MaxKeepalive bounds the keep alive a client may ask for (default
	// 1h, whole seconds up to 65535s). An MQTT 5 client asking for 0 (none)
	// or more is told this value in CONNACK (Server Keep Alive) and is
	// disconnected after 1.5 times it without a packet; MQTT 3.1.1 has no
	// way to tell the client, so its keep alive is kept as asked.
	MaxKeepalive time.Duration `yaml:"max_keepalive"`
	// Version is what $SYS/broker/version says (the gateway's version).
	Version string `yaml:"-"`
}

// DefaultConfig returns the recommended settings (WithDefaults of the zero
// Config) with DataDir "mqttgate-data", for use outside the gateway,
// whose data_dir is set at the top of its file.
func DefaultConfig() Config {
	return Config{DataDir: "mqttgate-data"}.WithDefaults()
}

// WithDefaults returns c with every zero field that has a default set to
// it. It is the one place the broker's defaults are written; the gateway's
// config applies it once after decoding, and New applies it to what it is
// given (a no-op on a config that has it already).
func (c Config) WithDefaults() Config {
	if c.TCPAddr == "" && c.TLSAddr == "" {
		c.TCPAddr = "127.0.0.1:1883"
	}
	if c.AnonymousRole == "" {
		c.AnonymousRole = "viewer"
	}
	if c.InBandTimeout == 0 {
		c.InBandTimeout = 10 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = 1 << 20
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 1024
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = 128
	}
	if c.MaxClients == 0 {
		c.MaxClients = 1024
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = 1024
	}
	if c.MaxConnectionsPerAddr == 0 {
		c.MaxConnectionsPerAddr = 64
	}
	if c.MaxPendingConnections == 0 {
		c.MaxPendingConnections = 256
	}
	if c.MaxPendingConnectionsPerAddr == 0 {
		c.MaxPendingConnectionsPerAddr = 16
	}
	if c.PublishWait == 0 {
		c.PublishWait = 5 * time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.MaxKeepalive == 0 {
		c.MaxKeepalive = time.Hour
	}
	return c
}

// allRoles returns the built-in roles and the config's; a config role
// named like a built-in one is ignored (ValidateRoles reports it).
func (c Config) allRoles() map[string]Role {
	all := BuiltinRoles()
	for name, r := range c.Roles {
		if _, ok := all[name]; !ok {
			all[name] = r
		}
	}
	return all
}

// Validate reports every problem at once, as errors.Join of *field.Error
// whose paths are the keys of the mqtt section ("addr", "max_queued").
// DataDir is reported as data_dir. The contents of Roles, which the
// gateway's file has at its top level, are checked by ValidateRoles; here
// only anonymous_role is checked against their names.
func (c Config) Validate() error {
	var errs []error
	add := func(e *field.Error) { errs = append(errs, e) }
	if c.TCPAddr == "" && c.TLSAddr == "" {
		add(field.Errorf("addr", "no listener; set addr (e.g. 127.0.0.1:1883) or tls_addr (e.g. :8883)"))
	}
	for _, a := range []struct{ key, v string }{{"addr", c.TCPAddr}, {"tls_addr", c.TLSAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			add(field.Invalid(a.key, a.v, "is not HOST:PORT; use e.g. 0.0.0.0:1883"))
		}
	}
	if c.TLSAddr != "" && (c.TLSCert == "" || c.TLSKey == "") {
		add(field.Errorf("tls_addr", "set needs tls_cert and tls_key (PEM files)"))
	}
	if c.TLSAddr != "" && c.TLSCert != "" && c.TLSKey != "" {
		// New loads the pair; so does config check, through here.
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			add(field.Errorf("tls_cert", "cannot load TLS key pair %s, %s: %v; give a PEM certificate and key the gateway can read", c.TLSCert, c.TLSKey, err))
		}
	}
	if c.TLSAddr == "" && (c.TLSCert != "" || c.TLSKey != "") {
		add(field.Errorf("tls_cert", "set but tls_addr is empty; set tls_addr (e.g. :8883) or remove tls_cert/tls_key"))
	}
	if c.DataDir == "" {
		add(field.Errorf("data_dir", "empty; set the directory for the broker's store"))
	}
	for _, d := range []struct {
		key      string
		v, max   time.Duration
		accepted string
	}{
		{"sync_interval", c.SyncInterval, time.Hour, "use 0 (every change durable) up to 1h"},
		{"in_band_timeout", c.InBandTimeout, 5 * time.Minute, "use 1s to 5m (default 10s)"},
		{"connect_timeout", c.ConnectTimeout, 5 * time.Minute, "use 1s to 5m (default 10s)"},
		{"publish_wait", c.PublishWait, time.Minute, "use 10ms to 1m (default 5s)"},
		{"stall_timeout", c.StallTimeout, time.Hour, "use 1s to 1h (default 30s)"},
	} {
		if d.v < 0 || d.v > d.max {
			add(field.Invalid(d.key, d.v, "is out of range; "+d.accepted))
		}
	}
	for _, l := range []struct {
		key string
		v   int
		max int
	}{{"max_clients", c.MaxClients, 1 << 30}, {"max_subscriptions", c.MaxSubscriptions, 1 << 20}, {"max_connections_per_addr", c.MaxConnectionsPerAddr, 1 << 30},
		{"max_pending_connections", c.MaxPendingConnections, 1 << 30}, {"max_pending_connections_per_addr", c.MaxPendingConnectionsPerAddr, 1 << 30},
		{"max_packet_size", c.MaxPacketSize, 256 << 20}, {"max_inflight", c.MaxInflight, 65535}, {"max_queued", c.MaxQueued, 1 << 20}} {
		if l.v < 0 || l.v > l.max {
			add(field.Invalid(l.key, l.v, fmt.Sprintf("is out of range; use 0 (default) to %d", l.max)))
		}
	}
	if c.MaxKeepalive < 0 || c.MaxKeepalive > math.MaxUint16*time.Second || c.MaxKeepalive%time.Second != 0 {
		add(field.Invalid("max_keepalive", c.MaxKeepalive, "is out of range; use whole seconds from 1s to 65535s (default 1h)"))
	}
	if c.MaxSessionExpiry < 0 {
		add(field.Invalid("max_session_expiry", c.MaxSessionExpiry, "is negative; use 0 (no limit) or e.g. 24h"))
	}
	if err := c.validateAnonymousRole(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateAnonymousRole checks that anonymous_role names a role.
func (c Config) validateAnonymousRole() error {
	if !c.AllowAnonymous {
		return nil
	}
	if c.AnonymousRole == "" {
		return field.Errorf("anonymous_role", "empty while allow_anonymous is true; name a role such as viewer")
	}
	if _, ok := c.allRoles()[c.AnonymousRole]; !ok {
		return field.Invalid("anonymous_role", c.AnonymousRole, "is not a role; use one of "+strings.Join(sortedKeys(c.allRoles()), ", "))
	}
	return nil
}

// ValidateRoles reports every problem of the roles a configuration adds,
// as *field.Error with paths below the roles map ("ops", "ops.read[1]").
func ValidateRoles(roles map[string]Role) error {
	var errs []error
	builtin := BuiltinRoles()
	for _, name := range slices.Sorted(maps.Keys(roles)) {
		if _, ok := builtin[name]; ok {
			errs = append(errs, field.Errorf(name, "is a built-in role and cannot be redefined; choose another name"))
			continue
		}
		if name == "" || strings.ContainsAny(name, " \t\n/") {
			errs = append(errs, field.Invalid(name, name, "is not a valid role name; use letters, digits, - and _"))
		}
		r := roles[name]
		for _, l := range []struct {
			key string
			fs  []string
		}{{"read", r.Read}, {"write", r.Write}, {"deny", r.Deny}} {
			for i, f := range l.fs {
				if err := validateRoleFilter(f); err != nil {
					errs = append(errs, field.Invalid(field.Index(name+"."+l.key, i), f, err.Error()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]Role) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

// validateRoleFilter checks an access filter: a valid MQTT topic filter
// (topics.CheckFilter) in which '%' appears only as %u or %c.
func validateRoleFilter(f string) error {
	if f == "" {
		return errors.New("is empty; use a topic filter such as sensors/#")
	}
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && (i+1 >= len(f) || (f[i+1] != 'u' && f[i+1] != 'c')) {
			return errors.New("has a '%' that is not %u (username) or %c (client id)")
		}
	}
	return topics.CheckFilter(f)
}

// loadTLS loads the listener's key pair; TLS 1.2 is the minimum.
func (c Config) loadTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("mqtt: load TLS key pair %s, %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
