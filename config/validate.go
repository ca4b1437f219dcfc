package config

import (
	"fmt"
	"mqttgate/mqtt"
	"mqttgate/ws"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode"
)

type pathErr struct{ path, msg string }

// validate checks every part and returns each problem with the path of the
// key it concerns.
func (c Config) validate() []pathErr {
	var out []pathErr
	add := func(path, format string, a ...any) { out = append(out, pathErr{path, fmt.Sprintf(format, a...)}) }
	if c.GatewayID != "" {
		if err := checkGatewayID(c.GatewayID); err != nil {
			add("gateway_id", "gateway_id: %v", err)
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir", "data_dir: empty; set a directory the gateway may write, e.g. ./mqttgate-data")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "log.level: %q is not a level; use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "log.format: %q is not a format; use text or json", c.Log.Format)
	}
	if c.Runtime.GOGC < 0 || c.Runtime.GOGC > 10000 {
		add("runtime.gogc", "runtime.gogc: %d is out of range; use 0 (Go's default) or 10 to 10000", c.Runtime.GOGC)
	}
	if c.Runtime.MemoryLimitMiB < 0 {
		add("runtime.memory_limit_mib", "runtime.memory_limit_mib: %d is negative; use 0 (no limit) or e.g. 200", c.Runtime.MemoryLimitMiB)
	}
	if a := c.Debug.PprofAddr; a != "" {
		host, _, err := net.SplitHostPort(a)
		ip, perr := netip.ParseAddr(host)
		if err != nil || (host != "localhost" && (perr != nil || !ip.IsLoopback())) {
			add("debug.pprof_addr", "debug.pprof_addr: %q is not a loopback HOST:PORT; the profiler must not be reachable from the network, use e.g. 127.0.0.1:6060", a)
		}
	}
	m := c.BrokerConfig()
	out = append(out, section("mqtt", m.Validate())...)
	h := c.HTTPConfig()
	out = append(out, section("http", h.Validate())...)
	out = append(out, section("auth", c.Auth.Validate())...)
	out = append(out, section("", c.Sensors.Validate())...)
	names := map[string]bool{}
	for i, u := range c.Uplinks {
		p := fmt.Sprintf("uplinks[%d]", i)
		out = append(out, section(p, u.Validate())...)
		if names[u.Name] {
			add(p+".name", "%s.name: %q is used by another uplink; give each uplink its own name", p, u.Name)
		}
		names[u.Name] = true
	}
	return out
}

// section turns the errors of a part's Validate, each starting with the
// YAML key it concerns, into path errors under prefix. Keys that the parts
// take from the top level (roles, data_dir) keep their own path.
func section(prefix string, err error) []pathErr {
	var out []pathErr
	for _, e := range flatten(err) {
		msg := e.Error()
		key, rest, ok := strings.Cut(msg, ": ")
		if prefix == "" {
			out = append(out, pathErr{key, msg})
			continue
		}
		if !ok || strings.ContainsAny(key, " \"'") {
			out = append(out, pathErr{prefix, prefix + ": " + msg})
			continue
		}
		path := prefix + "." + key
		if key == "roles" || key == "data_dir" {
			path = key
			if sub, _, ok := strings.Cut(rest, ": "); ok && !strings.ContainsAny(sub, " \"'") {
				path += "." + sub
			} else if q, err := strconv.QuotedPrefix(rest); err == nil {
				if name, err := strconv.Unquote(q); err == nil {
					path += "." + name
				}
			}
			out = append(out, pathErr{path, msg})
			continue
		}
		out = append(out, pathErr{path, prefix + "." + msg})
	}
	return out
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
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

// Check validates a configuration after flags changed it; it names no
// lines, as flags have none.
func (c Config) Check(name string) error {
	var probs []Problem
	for _, e := range c.validate() {
		probs = append(probs, Problem{File: name, Msg: e.msg})
	}
	if len(probs) > 0 {
		return &Error{Problems: probs}
	}
	return nil
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
