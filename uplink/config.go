package uplink

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"

	"mqttgate/field"
)

// Defaults used when a Config field is zero (see WithDefaults).
const (
	DefaultUplinkKeepAlive      = 60 * time.Second
	DefaultUplinkConnectTimeout = 10 * time.Second
	DefaultUplinkReconnectMin   = time.Second
	DefaultUplinkReconnectMax   = 2 * time.Minute
	DefaultUplinkDrainRate      = 200 // messages per second
	DefaultUplinkMaxInflight    = 32
	DefaultQueueMaxBytes        = 64 << 20
	DefaultQueueMaxAge          = 7 * 24 * time.Hour
)

// Config configures one bridge to an upstream broker, as in the
// `uplinks` list of the config file. The zero value of every field except
// Name, URL and Topics selects a default (see the Default* constants).
type Config struct {
	Name string `yaml:"name"` // unique among uplinks; [A-Za-z0-9_-]
	// URL of the upstream: tcp://, mqtt://, ssl://, tls://, mqtts://, ws://,
	// wss:// with host and port (ws/wss may carry a path).
	URL      string `yaml:"url"`
	ClientID string `yaml:"client_id"` // default "<gateway-id>-<name>"
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CAFile is a PEM bundle of the CAs to trust for the upstream's
	// certificate; empty means the system roots. CertFile and KeyFile are
	// a client certificate, both or neither.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the upstream certificate.
	ServerName     string        `yaml:"server_name"`
	KeepAlive      time.Duration `yaml:"keep_alive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// CleanSession false (the default, as in Mosquitto's bridges) keeps
	// the upstream session, so `in` messages sent while the link was down
	// are delivered when it returns.
	CleanSession bool `yaml:"clean_session"`
	// ReconnectMin and ReconnectMax bound the exponential back-off
	// (with jitter) between connection attempts.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// DrainRate is how many queued messages per second are sent while a
	// backlog from before the connection is drained, so live traffic and
	// `in` messages get their share of the link. Messages queued after the
	// connection came up are sent as fast as the upstream acknowledges.
	DrainRate float64 `yaml:"drain_rate"`
	// MaxInflight is how many QoS 1/2 messages may await the upstream's
	// acknowledgement at once.
	MaxInflight int `yaml:"max_inflight"`
	// StatusTopic is the remote topic of the will ("offline") and of the
	// "online" message, both retained. Default: "<gateway-id>/status"
	// mapped by the first out rule that matches it, else unmapped.
	StatusTopic string      `yaml:"status_topic"`
	Topics      []Topic     `yaml:"topics"`
	Queue       QueueConfig `yaml:"queue"`
}

// Topic is one topic rule, shaped like a Mosquitto bridge `topic`
// line: the local topic is LocalPrefix + m and the remote topic is
// RemotePrefix + m, where m matches Pattern.
type Topic struct {
	Pattern      string `yaml:"pattern"`
	Direction    string `yaml:"direction"` // out | in | both
	QoS          int    `yaml:"qos"`       // 0, 1 or 2: the highest QoS used on the link
	LocalPrefix  string `yaml:"local_prefix"`
	RemotePrefix string `yaml:"remote_prefix"`
}

// QueueConfig bounds the store-and-forward queue in the data dir.
type QueueConfig struct {
	MaxBytes int64         `yaml:"max_bytes"` // default 64 MiB; the oldest are dropped beyond it
	MaxAge   time.Duration `yaml:"max_age"`   // default 7 days; older messages are dropped
	// Disabled sends QoS 1/2 messages without storing them: they are
	// lost when the link is down. Meant for measurements and SD-card-shy
	// setups that accept the loss.
	Disabled bool `yaml:"disabled"`
}

var uplinkNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports every problem, as errors.Join of *field.Error whose
// paths are the entry's keys (topics[i].pattern, queue.max_bytes, ...).
// The TLS files are checked by LoadTLS.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, a ...any) { errs = append(errs, field.Errorf(path, format, a...)) }
	if !uplinkNameRE.MatchString(c.Name) {
		add("name", "%q is not a valid uplink name; use 1-64 letters, digits, '-' or '_'", c.Name)
	}
	tlsScheme := false
	if u, err := url.Parse(c.URL); err != nil || c.URL == "" {
		add("url", "%q is not a URL; use e.g. tcp://broker.example:1883 or ssl://broker.example:8883", c.URL)
	} else {
		switch u.Scheme {
		case "tcp", "mqtt", "ws":
		case "ssl", "tls", "mqtts", "wss":
			tlsScheme = true
		default:
			add("url", "scheme %q is not supported; use tcp, ssl, tls, ws or wss", u.Scheme)
		}
		if u.Hostname() == "" || u.Port() == "" {
			add("url", "%q needs a host and a port, e.g. tcp://broker.example:1883", c.URL)
		}
	}
	if !tlsScheme && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "") {
		add("url", "ca_file, cert_file and key_file need a TLS url (ssl://, tls:// or wss://)")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		add("cert_file", "a client certificate needs both cert_file and key_file")
	}
	if len(c.ClientID) > 65535 {
		add("client_id", "longer than 65535 bytes")
	}
	if c.KeepAlive < 0 || (c.KeepAlive > 0 && c.KeepAlive < time.Second) || c.KeepAlive > 18*time.Hour {
		add("keep_alive", "%s is out of range; use 1s to 18h (default 60s)", c.KeepAlive)
	}
	if c.ConnectTimeout < 0 {
		add("connect_timeout", "%s is negative", c.ConnectTimeout)
	}
	if c.ReconnectMin < 0 || c.ReconnectMax < 0 {
		add("reconnect_min", "back-off durations must not be negative")
	} else if c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax {
		add("reconnect_min", "%s is above reconnect_max %s", c.ReconnectMin, c.ReconnectMax)
	}
	if c.DrainRate < 0 {
		add("drain_rate", "%v is negative; use messages per second, e.g. 200", c.DrainRate)
	}
	if c.MaxInflight < 0 || c.MaxInflight > 65535 {
		add("max_inflight", "%d is out of range; use 1 to 65535 (default %d)", c.MaxInflight, DefaultUplinkMaxInflight)
	}
	if c.StatusTopic != "" && strings.ContainsAny(c.StatusTopic, "+#") {
		add("status_topic", "%q must be a topic name without wildcards", c.StatusTopic)
	}
	if len(c.Topics) == 0 {
		add("topics", "no topic rules; add at least one, e.g. {pattern: \"sensors/#\", direction: out, qos: 1}")
	}
	for i, t := range c.Topics {
		k := field.Index("topics", i)
		if err := validFilter(t.Pattern); err != nil {
			add(k+".pattern", "%q %v", t.Pattern, err)
		}
		switch t.Direction {
		case "out", "in", "both":
		default:
			add(k+".direction", "%q is not a direction; use out, in or both", t.Direction)
		}
		if t.QoS < 0 || t.QoS > 2 {
			add(k+".qos", "%d is not a QoS; use 0, 1 or 2", t.QoS)
		}
		if strings.ContainsAny(t.LocalPrefix, "+#") {
			add(k+".local_prefix", "%q must not contain + or #", t.LocalPrefix)
		}
		if strings.ContainsAny(t.RemotePrefix, "+#") {
			add(k+".remote_prefix", "%q must not contain + or #", t.RemotePrefix)
		}
	}
	if c.Queue.MaxBytes < 0 {
		add("queue.max_bytes", "%d is negative; use a size in bytes, e.g. 67108864 (64 MiB)", c.Queue.MaxBytes)
	} else if c.Queue.MaxBytes > 0 && c.Queue.MaxBytes < 64<<10 {
		add("queue.max_bytes", "%d is too small; use at least 65536", c.Queue.MaxBytes)
	}
	if c.Queue.MaxAge < 0 {
		add("queue.max_age", "%s is negative; use e.g. 168h", c.Queue.MaxAge)
	}
	return errors.Join(errs...)
}

// validFilter checks an MQTT topic filter.
func validFilter(f string) error {
	if f == "" {
		return errors.New("is empty; use a topic filter such as sensors/#")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errors.New("is not a valid filter: # must be a whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New("is not a valid filter: + must be a whole level")
		}
	}
	return nil
}

// WithDefaults returns c with zero fields replaced by defaults; the client
// id defaults to "<gatewayID>-<name>". It is the one place the uplink's
// defaults are applied; the gateway's config applies it once after
// decoding, and New applies it to what it is given.
func (c Config) WithDefaults(gatewayID string) Config {
	if c.ClientID == "" {
		c.ClientID = gatewayID + "-" + c.Name
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultUplinkKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultUplinkConnectTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultUplinkReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(DefaultUplinkReconnectMax, c.ReconnectMin)
	}
	if c.DrainRate == 0 {
		c.DrainRate = DefaultUplinkDrainRate
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultUplinkMaxInflight
	}
	if c.Queue.MaxBytes == 0 {
		c.Queue.MaxBytes = DefaultQueueMaxBytes
	}
	if c.Queue.MaxAge == 0 {
		c.Queue.MaxAge = DefaultQueueMaxAge
	}
	return c
}
