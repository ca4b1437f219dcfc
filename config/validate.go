package config

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"mqttgate/field"
	"mqttgate/mqtt"
	"mqttgate/topics"
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
	if err := topics.CheckName(c.GatewayID); err != nil {
		add("gateway_id", c.GatewayID, err.Error()+" (it is the first level of the gateway's topics)")
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

// Finish fills what depends on the machine: the gateway id, when the file
// leaves it out, is the host name made a valid name (topics.SafeName:
// pi.lan becomes pi-lan).
func (c *Config) Finish() { c.finish(os.Hostname) }

func (c *Config) finish(hostname func() (string, error)) {
	if c.GatewayID == "" {
		h, err := hostname()
		if err != nil {
			h = ""
		}
		c.GatewayID = topics.SafeName(h, "mqttgate")
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
