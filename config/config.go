package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

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

	// Bridge holds sensors, actuators and home_assistant at the top level.
	Sensors sensors.Config  `yaml:",inline"`
	Uplinks []uplink.Config `yaml:"uplinks"`
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

// Default returns the built-in defaults that a file's keys override.
func Default() Config {
	m := mqtt.DefaultConfig()
	m.DataDir = ""
	h := ws.DefaultConfig()
	return Config{
		DataDir: "./mqttgate-data",
		Log:     Log{Level: "info", Format: "text"},
		MQTT:    m,
		HTTP:    h,
		Auth:    login.DefaultConfig(),
	}
}

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

// Load reads and checks the file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, &Error{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read the configuration: %v", errors.Unwrap(err))}}}
	}
	return Parse(path, data)
}

// Parse decodes and checks a configuration; name is used in messages.
// Defaults fill what the data leaves out. Values that depend on the
// machine (gateway_id) are filled in by Finish.
func Parse(name string, data []byte) (Config, error) {
	cfg := Default()
	var root yaml.Node
	var probs []Problem
	add := func(line int, msg string) { probs = append(probs, Problem{File: name, Line: line, Msg: msg}) }

	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlError(err)
		add(line, msg+"; fix the YAML syntax (indent with spaces, quote values with ':' or '#')")
		return cfg, &Error{Problems: probs}
	}
	if len(bytes.TrimSpace(data)) == 0 || root.Kind == 0 {
		return cfg, nil // an empty file is the defaults
	}
	checkKeys(&root, reflect.TypeOf(cfg), "", add)
	decodeOK := true
	if err := root.Decode(&cfg); err != nil {
		decodeOK = false
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				line, msg := yamlError(errors.New(e))
				add(line, typeHint(msg))
			}
		} else {
			line, msg := yamlError(err)
			add(line, msg)
		}
	}
	// Unknown keys leave the values intact, so validation still runs;
	// values that failed to decode would give misleading messages.
	if decodeOK {
		for _, e := range cfg.validate() {
			add(lineOf(&root, e.path), e.msg)
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return cfg, &Error{Problems: probs}
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func yamlError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// typeHint rewrites yaml's "cannot unmarshal !!str `abc` into int" so that
// it says what is expected.
func typeHint(msg string) string {
	m := regexp.MustCompile("cannot unmarshal !!(\\w+) `(.*)` into (.+)$").FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := m[3]
	switch {
	case want == "time.Duration":
		want = "a duration such as 10s, 500ms or 5m"
	case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint"):
		want = "a whole number"
	case strings.HasPrefix(want, "float"):
		want = "a number"
	case want == "bool":
		want = "true or false"
	case want == "string":
		want = "a string"
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case strings.HasPrefix(want, "map["):
		want = "a mapping of keys to values"
	default:
		want = "a mapping with the keys described in the documentation"
	}
	return fmt.Sprintf("%q is a %s here, but this key needs %s", m[2], m[1], want)
}
