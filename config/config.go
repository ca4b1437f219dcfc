package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"mqttgate/field"
	"mqttgate/history"
	"mqttgate/login"
	"mqttgate/mqtt"
	"mqttgate/sensors"
	"mqttgate/uplink"
	"mqttgate/ws"
)

// Config is the whole gateway configuration.
type Config struct {
	// GatewayID is the root of the gateway's own topics; default: the host
	// name made topic-safe.
	GatewayID string `yaml:"gateway_id"`
	// DataDir holds the users file, the broker's store, the TLS
	// certificate and the uplink queues.
	DataDir string `yaml:"data_dir"`

	Log     Log                  `yaml:"log"`
	MQTT    mqtt.Config          `yaml:"mqtt"`
	HTTP    ws.Config            `yaml:"http"`
	Auth    login.Config         `yaml:"auth"`
	Roles   map[string]mqtt.Role `yaml:"roles"`
	Runtime Runtime              `yaml:"runtime"`
	Debug   Debug                `yaml:"debug"`

	// Sensors holds sensors, actuators and home_assistant at the top level.
	Sensors sensors.Config  `yaml:",inline"`
	Uplinks []uplink.Config `yaml:"uplinks"`
	History history.Config  `yaml:"history"`
}

// Log configures the gateway's log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// Runtime tunes the Go runtime for small boards.
type Runtime struct {
	// GOGC is the garbage collector's target percentage (0: Go's default
	// 100, or the GOGC environment variable).
	GOGC int `yaml:"gogc"`
	// MemoryLimit is a soft memory limit in MiB (0: none, or the
	// GOMEMLIMIT environment variable).
	MemoryLimitMiB int64 `yaml:"memory_limit_mib"`
}

// Debug holds settings for finding problems.
type Debug struct {
	// PprofAddr serves Go's profiler (net/http/pprof) on a loopback
	// HOST:PORT, e.g. 127.0.0.1:6060; empty (the default) serves none.
	PprofAddr string `yaml:"pprof_addr"`
}

// SlogLevel is the configured level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Default returns the built-in defaults: what an empty file gives.
func Default() Config { return Config{}.withDefaults() }

// Problem is one thing wrong with a configuration.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Error lists every problem found in a configuration.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Override is a setting given on the command line; it replaces the key at
// Path (e.g. "mqtt.addr") before decoding, and problems with it name Flag.
type Override struct {
	Flag  string // e.g. "--mqtt-addr"
	Path  string // a key path of the file, e.g. "mqtt.addr"
	Value string
}

// Load reads the file at path and returns it as Parse does.
func Load(path string, overrides ...Override) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", errors.Unwrap(err))}}}
	}
	return Parse(path, data, overrides...)
}

// Parse is the one way a configuration is read, for `run` and for
// `config check` alike: decode (an unknown key or a value of the wrong type
// is a problem, and decoding goes on), the overrides, the defaults of every
// part (withDefaults; gateway_id from the host name), then validation of
// every part. It reports every problem at once, each with its line; name
// is the file name used in messages.
func Parse(name string, data []byte, overrides ...Override) (Config, error) {
	var root yaml.Node
	var probs []Problem
	add := func(line int, msg string) { probs = append(probs, Problem{File: name, Line: line, Msg: msg}) }

	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlError(err)
		add(line, msg+"; fix the YAML syntax (indent with spaces, quote values with ':' or '#')")
		return Default(), &Error{Problems: probs}
	}
	var cfg Config
	flags := applyOverrides(&root, overrides)
	typeLines := map[int]bool{} // lines whose value did not decode
	if len(bytes.TrimSpace(data)) > 0 || len(overrides) > 0 {
		checkKeys(&root, reflect.TypeOf(cfg), "", add)
		for _, te := range decode(&root, &cfg) {
			typeLines[te.line] = true
			add(te.line, te.msg)
		}
	}
	cfg = cfg.withDefaults()
	for _, e := range field.Leaves(cfg.validate()) {
		path := ""
		var fe *field.Error
		if errors.As(e, &fe) {
			path = fe.Field()
		}
		if flag := flags.at(path); flag != "" {
			add(0, e.Error()+" (set by "+flag+")")
			continue
		}
		line := lineOf(&root, path)
		if typeLines[line] {
			continue // the value did not decode; that problem is reported
		}
		add(line, e.Error())
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return cfg, &Error{Problems: probs}
	}
	return cfg, nil
}
