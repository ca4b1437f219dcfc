package history

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mqttgate/field"
)

// Config configures the recorder (YAML section "history"). The zero
// value of a field means its default (WithDefaults).
type Config struct {
	// Enabled turns recording and queries on (default true).
	Enabled *bool `yaml:"enabled"`
	// Topics are MQTT topic filters whose numeric payloads are recorded
	// besides the gateway's own sensors, e.g. "zigbee2mqtt/+".
	Topics []string `yaml:"topics"`
	// Retention is how long 15-minute aggregates are kept (default 30d).
	Retention Duration `yaml:"retention"`
	// FlushInterval is the time between write bursts (default 1m): the
	// most that a crash or power cut loses.
	FlushInterval Duration `yaml:"flush_interval"`
	// MaxSize bounds the history file (default 64MB); the oldest data
	// goes first.
	MaxSize Size `yaml:"max_size"`
	// MaxSeries bounds the number of (topic, field) series (default 256);
	// readings of further series are not recorded.
	MaxSeries int `yaml:"max_series"`
}

// DefaultConfig returns the built-in settings: WithDefaults of the zero
// Config.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with zero fields set to their defaults; it is
// the one place they are written.
func (c Config) WithDefaults() Config {
	if c.Enabled == nil {
		on := true
		c.Enabled = &on
	}
	if c.Retention == 0 {
		c.Retention = Duration(30 * 24 * time.Hour)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = Duration(time.Minute)
	}
	if c.MaxSize == 0 {
		c.MaxSize = 64 << 20
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = 256
	}
	return c
}

// On reports whether recording is enabled.
func (c Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Validate reports every problem, as errors.Join of *field.Error whose
// paths are the keys of the history section.
func (c Config) Validate() error {
	var errs []error
	if c.Retention < Duration(7*24*time.Hour) {
		errs = append(errs, field.Invalid("retention", c.Retention, "is shorter than the 7 days of 1-minute data; use 7d or more"))
	}
	if c.FlushInterval < Duration(time.Second) || c.FlushInterval > Duration(time.Hour) {
		errs = append(errs, field.Invalid("flush_interval", c.FlushInterval, "is out of range; use 1s to 1h"))
	}
	if c.MaxSize < 4<<20 {
		errs = append(errs, field.Invalid("max_size", c.MaxSize, "is too small; use 4MB or more"))
	}
	if c.MaxSeries < 1 || c.MaxSeries > 10000 {
		errs = append(errs, field.Invalid("max_series", c.MaxSeries, "is out of range; use 1 to 10000"))
	}
	for i, f := range c.Topics {
		if err := ValidFilter(f); err != nil {
			errs = append(errs, field.Invalid(field.Index("topics", i), f, err.Error()))
		}
	}
	return errors.Join(errs...)
}

// Duration is a time.Duration that also takes days: "30d", "12h", "1m".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a duration; use e.g. 30d, 12h or 1m", s)
		}
		*d = Duration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; use e.g. 30d, 12h or 1m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d Duration) String() string {
	if v := time.Duration(d); v >= 24*time.Hour && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(d).String()
}

// Size is a number of bytes that also takes units: "64MB", "512KB", "1GB"
// (powers of 1024), or a plain number.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	num := str
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(strings.ToUpper(str), u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<50)/mult {
		return fmt.Errorf("%q is not a size; use e.g. 64MB, 512KB or 1GB", str)
	}
	*s = Size(v * mult)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	for _, u := range sizeUnits {
		if int64(s) >= u.mult && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// ValidFilter reports why f cannot be a history topic filter.
func ValidFilter(f string) error {
	if f == "" || strings.ContainsRune(f, 0) || len(f) > 1024 {
		return errors.New("is not a topic filter; use e.g. zigbee2mqtt/+ or devices/+/state")
	}
	if strings.HasPrefix(f, "$share/") {
		return errors.New("is a shared subscription; history reads every message, use the plain filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if l == "#" && i != len(levels)-1 || l != "#" && l != "+" && strings.ContainsAny(l, "+#") {
			return errors.New("is not a valid filter: + and # stand for whole levels, # only last")
		}
	}
	return nil
}
