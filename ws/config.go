package ws

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"mqttgate/field"
)

// TLS modes of Config.TLS.
const (
	TLSAuto = "auto" // self-signed certificate generated into DataDir/tls
	TLSOn   = "on"   // CertFile/KeyFile from the config, re-read on change
	TLSOff  = "off"  // plain HTTP and ws://
)

// Config configures the HTTP(S) server. Zero fields mean their defaults
// (WithDefaults); DataDir is required with TLS "auto".
type Config struct {
	// Addr is the listen address, HOST:PORT (default 127.0.0.1:8443).
	Addr string `yaml:"addr"`
	// TLS is "auto" (default), "on" or "off".
	TLS string `yaml:"tls"`
	// CertFile and KeyFile are the PEM certificate chain and key for TLS "on".
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CertPollInterval is how often TLS "on" checks the files for changes
	// (default 30s).
	CertPollInterval time.Duration `yaml:"cert_poll_interval"`
	// DataDir is where TLS "auto" keeps tls/cert.pem and tls/key.pem.
	DataDir string `yaml:"-"`
	// AllowInsecureRemote permits TLS "off" on a non-loopback address.
	AllowInsecureRemote bool `yaml:"allow_insecure_remote"`
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed to
	// open /mqtt besides the gateway's own origin.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies are CIDRs (or single addresses) of reverse proxies whose
	// X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host are honoured.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// MetricsAuth guards /metrics (default: open); see MetricsAuth.
	MetricsAuth MetricsAuth `yaml:"metrics_auth"`

	// MaxConnections limits open WebSocket connections in total (default 256).
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddr limits them per source address (default 16).
	MaxConnectionsPerAddr int `yaml:"max_connections_per_addr"`
	// MaxPreloginConnections limits the WebSocket connections that have
	// not logged in yet (default 32), MaxPreloginConnectionsPerAddr those
	// from one source address, an IPv6 /64 counting as one (default 4).
	// They count towards MaxConnections too.
	MaxPreloginConnections        int `yaml:"max_prelogin_connections"`
	MaxPreloginConnectionsPerAddr int `yaml:"max_prelogin_connections_per_addr"`
	// LoginTimeout is how long a WebSocket connection may take from the
	// upgrade to a successful CONNACK before it is closed (default 10s).
	LoginTimeout time.Duration `yaml:"login_timeout"`
	// MaxMessageSize is the largest WebSocket message accepted (default 1 MiB).
	MaxMessageSize int64 `yaml:"max_message_size"`
	// HandshakeTimeout bounds the HTTP request headers and the WebSocket
	// upgrade (default 10s).
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// PingInterval is how often a WebSocket ping is sent (default 30s);
	// PongTimeout is how long after a ping a pong may take before the
	// connection is closed (default 15s).
	PingInterval time.Duration `yaml:"ping_interval"`
	PongTimeout  time.Duration `yaml:"pong_timeout"`
	// WriteTimeout bounds each write to a WebSocket peer and each plain HTTP
	// response (default 10s); a peer that does not take the data in time is
	// disconnected.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// ReadTimeout bounds reading a plain HTTP request (default 15s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes idle keep-alive HTTP connections (default 120s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds the graceful stop in Run (default 5s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultConfig returns the built-in defaults: WithDefaults of the zero
// Config.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with every zero field set to its default. It is
// the one place the server's defaults are written; the gateway's config
// applies it once after decoding, and New applies it to what it is given.
func (c Config) WithDefaults() Config {
	setStr := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setStr(&c.Addr, "127.0.0.1:8443")
	setStr(&c.TLS, TLSAuto)
	setDur(&c.CertPollInterval, 30*time.Second)
	if c.MaxConnections == 0 {
		c.MaxConnections = 256
	}
	if c.MaxConnectionsPerAddr == 0 {
		c.MaxConnectionsPerAddr = 16
	}
	if c.MaxPreloginConnections == 0 {
		c.MaxPreloginConnections = 32
	}
	if c.MaxPreloginConnectionsPerAddr == 0 {
		c.MaxPreloginConnectionsPerAddr = 4
	}
	setDur(&c.LoginTimeout, 10*time.Second)
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 1 << 20
	}
	setDur(&c.HandshakeTimeout, 10*time.Second)
	setDur(&c.PingInterval, 30*time.Second)
	setDur(&c.PongTimeout, 15*time.Second)
	setDur(&c.WriteTimeout, 10*time.Second)
	setDur(&c.ReadTimeout, 15*time.Second)
	setDur(&c.IdleTimeout, 120*time.Second)
	setDur(&c.ShutdownTimeout, 5*time.Second)
	return c
}

// Validate reports every problem of c (after WithDefaults) at once, as
// errors.Join of *field.Error whose paths are the keys of the http section;
// DataDir is reported as data_dir.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, field.Errorf(key, format, args...))
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		bad("addr", "%q is not HOST:PORT (%v); use e.g. 127.0.0.1:8443 or 0.0.0.0:8443", c.Addr, err)
	} else if _, perr := net.LookupPort("tcp", port); perr != nil {
		bad("addr", "port %q of %q is not a port number; use e.g. 8443", port, c.Addr)
	}
	switch c.TLS {
	case TLSAuto:
	case TLSOn:
		if c.CertFile == "" {
			bad("cert_file", "is required with tls: on; give the PEM certificate file, or use tls: auto")
		}
		if c.KeyFile == "" {
			bad("key_file", "is required with tls: on; give the PEM key file, or use tls: auto")
		}
		if c.CertFile != "" && c.KeyFile != "" {
			// New loads the pair; so does config check, through here.
			if _, err := loadPair(c.CertFile, c.KeyFile); err != nil {
				bad("cert_file", "cannot load TLS key pair %s, %s: %v; give a PEM certificate and key the gateway can read", c.CertFile, c.KeyFile, err)
			}
		}
	case TLSOff:
		if err == nil && !isLoopbackHost(host) && !c.AllowInsecureRemote {
			bad("tls", "off on the non-loopback address %q would serve logins and data unencrypted; use tls: auto, or set allow_insecure_remote: true", c.Addr)
		}
	default:
		bad("tls", "%q is not a TLS mode; use auto, on or off", c.TLS)
	}
	if c.TLS == TLSAuto && c.DataDir == "" {
		bad("data_dir", "is required with tls: auto (the self-signed certificate is kept there)")
	}
	for _, o := range c.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			bad("allowed_origins", "%q: %v; write origins as scheme://host[:port], e.g. https://dash.example:8443", o, err)
		}
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		bad("trusted_proxies", "%v; use CIDRs such as 10.0.0.0/8 or single addresses", err)
	}
	errs = append(errs, c.MetricsAuth.validate()...)
	if c.MaxConnections < 1 {
		bad("max_connections", "%d must be at least 1", c.MaxConnections)
	}
	if c.MaxConnectionsPerAddr < 1 {
		bad("max_connections_per_addr", "%d must be at least 1", c.MaxConnectionsPerAddr)
	}
	if c.MaxPreloginConnections < 1 {
		bad("max_prelogin_connections", "%d must be at least 1", c.MaxPreloginConnections)
	}
	if c.MaxPreloginConnectionsPerAddr < 1 {
		bad("max_prelogin_connections_per_addr", "%d must be at least 1", c.MaxPreloginConnectionsPerAddr)
	}
	if c.MaxMessageSize < 16 {
		bad("max_message_size", "%d is too small; use at least 16 (default 1048576)", c.MaxMessageSize)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"cert_poll_interval", c.CertPollInterval}, {"handshake_timeout", c.HandshakeTimeout},
		{"ping_interval", c.PingInterval}, {"pong_timeout", c.PongTimeout},
		{"write_timeout", c.WriteTimeout}, {"read_timeout", c.ReadTimeout},
		{"idle_timeout", c.IdleTimeout}, {"shutdown_timeout", c.ShutdownTimeout},
		{"login_timeout", c.LoginTimeout},
	} {
		if d.v < 0 {
			bad(d.key, "%v must not be negative", d.v)
		}
	}
	return errors.Join(errs...)
}

// isLoopbackHost reports whether a listen host is a loopback address or
// "localhost". The empty host (all interfaces) is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// parsePrefixes parses CIDRs or single addresses.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// normalizeOrigin returns scheme://host[:port] in lower case with the
// scheme's default port removed, so equal origins compare equal.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("scheme must be http or https")
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be only scheme://host[:port]")
	}
	return scheme + "://" + normalizeHost(scheme, u.Host), nil
}

// normalizeHost lower-cases host[:port] and drops the default port of scheme.
func normalizeHost(scheme, hostport string) string {
	hostport = strings.ToLower(hostport)
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		if (scheme == "https" && p == "443") || (scheme == "http" && p == "80") {
			if strings.Contains(h, ":") {
				return "[" + h + "]"
			}
			return h
		}
	}
	return hostport
}
