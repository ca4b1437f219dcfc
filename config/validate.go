package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"unicode"

	"mqttgate/field"
	"mqttgate/mqtt"
	"mqttgate/ws"
)

// withDefaults returns c with every default applied, once, by the one
// source of each part's defaults: the parts' WithDefaults, the log's
// here, gateway_id from the host name (Finish).
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "./mqttgate-data"
	}
	c.Log = c.Log.WithDefaults()
	c.MQTT = c.MQTT.WithDefaults()
	c.HTTP = c.HTTP.WithDefaults()
	c.Auth = c.Auth.WithDefaults()
	c.Sensors = c.Sensors.WithDefaults()
	c.History = c.History.WithDefaults()
	c.Finish()
	c.Uplinks = slices.Clone(c.Uplinks)
	for i := range c.Uplinks {
		c.Uplinks[i] = c.Uplinks[i].WithDefaults(c.GatewayID)
	}
	return c
}

// WithDefaults returns l with the default level (info) and format (text)
// where they are empty.
func (l Log) WithDefaults() Log {
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "text"
	}
	return l
}

// validate checks every part with the same Validate its constructor runs,
// and returns errors.Join of *field.Error whose paths are the file's.
func (c Config) validate() error {
	var errs []error
	add := func(path string, value any, detail string) { errs = append(errs, field.Invalid(path, value, detail)) }
	if err := checkGatewayID(c.GatewayID); err != nil {
		errs = append(errs, field.Errorf("gateway_id", "%v", err))
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, field.Errorf("data_dir", "empty; set a directory the gateway may write, e.g. ./mqttgate-data"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", c.Log.Level, "is not a level; use debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", c.Log.Format, "is not a format; use text or json")
	}
	if c.Runtime.GOGC < 0 || c.Runtime.GOGC > 10000 {
		add("runtime.gogc", c.Runtime.GOGC, "is out of range; use 0 (Go's default) or 10 to 10000")
	}
	if c.Runtime.MemoryLimitMiB < 0 {
		add("runtime.memory_limit_mib", c.Runtime.MemoryLimitMiB, "is negative; use 0 (no limit) or e.g. 200")
	}
	if a := c.Debug.PprofAddr; a != "" {
		host, _, err := net.SplitHostPort(a)
		ip, perr := netip.ParseAddr(host)
		if err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			add("debug.pprof_addr", a, "is not a loopback HOST:PORT; the profiler must not be reachable from the network, use e.g. 127.0.0.1:6060")
		}
	}
	errs = append(errs,
		field.Prefix("mqtt", c.BrokerConfig().Validate()),
		field.Prefix("roles", mqtt.ValidateRoles(c.Roles)),
		field.Prefix("http", c.HTTPConfig().Validate()),
		field.Prefix("auth", c.Auth.Validate()),
		c.Sensors.Validate(),
		field.Prefix("history", c.History.Validate()),
	)
	names := map[string]bool{}
	for i, u := range c.Uplinks {
		p := field.Index("uplinks", i)
		_, tlsErr := u.LoadTLS() // as uplink.New does
		errs = append(errs, field.Prefix(p, errors.Join(u.Validate(), tlsErr)))
		if names[u.Name] {
			add(p+".name", u.Name, "is used by another uplink; give each uplink its own name")
		}
		names[u.Name] = true
	}
	return errors.Join(errs...)
}

func checkGatewayID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("%q is longer than 64 characters; use a short name such as gw-1", id)
	}
	if strings.HasPrefix(id, "$") {
		return fmt.Errorf("%q starts with '$', which MQTT reserves; use a name such as gw-1", id)
	}
	for _, r := range id {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q has %q; use letters, digits, '-', '_' and '.' only (it is a topic level)", id, r)
		}
	}
	return nil
}

// TopicSafe turns a host name into a gateway id.
func TopicSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.TrimLeft(b.String(), "$")
	if out == "" {
		return "mqttgate"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// Finish fills what depends on the machine: the gateway id from the host
// name when the file leaves it out.
func (c *Config) Finish() {
	if c.GatewayID == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "mqttgate"
		}
		c.GatewayID = TopicSafe(strings.Split(h, ".")[0])
	}
}

// BrokerConfig is the broker's part with the top-level keys it needs.
func (c Config) BrokerConfig() mqtt.Config {
	m := c.MQTT
	m.DataDir = c.DataDir
	m.Roles = c.Roles
	return m
}

// HTTPConfig is the HTTP server's part with the data dir.
func (c Config) HTTPConfig() ws.Config {
	h := c.HTTP
	h.DataDir = c.DataDir
	return h
}
