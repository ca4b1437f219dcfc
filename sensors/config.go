package sensors

import (
	"errors"
	"maps"
	"slices"
	"time"

	"mqttgate/field"
	"mqttgate/hw"
)

// Defaults of SensorConfig fields left zero (see WithDefaults).
const (
	DefaultInterval              = 10 * time.Second
	DefaultFailuresBeforeOffline = 3
	DefaultRepublishEvery        = 10
	// MaxBackoff bounds the wait between retries of a failing sensor.
	MaxBackoff = 5 * time.Minute
)

// SensorConfig is one entry of the sensors list: the device (inline hw
// fields: name, driver, bus, address, ...) and how it is published.
type SensorConfig struct {
	hw.SensorConfig `yaml:",inline"`
	// Interval between readings (default 10s; ignored by gpio-in, which
	// publishes on change).
	Interval time.Duration `yaml:"interval"`
	// Deadband maps a JSON key ("temperature_c") to the change needed
	// before a new reading is published. With a deadband, a reading is
	// published only when some value moved beyond it (keys without an
	// entry: any change), or after RepublishEvery intervals. Empty:
	// every reading is published.
	Deadband map[string]float64 `yaml:"deadband"`
	// RepublishEvery is the number of intervals after which a reading is
	// published even if nothing moved beyond the deadband (default 10).
	RepublishEvery int `yaml:"republish_every"`
	// FailuresBeforeOffline is the number of consecutive failed readings
	// after which the sensor's availability becomes offline (default 3).
	FailuresBeforeOffline int `yaml:"failures_before_offline"`
}

// ActuatorConfig is one entry of the actuators list.
type ActuatorConfig struct {
	hw.ActuatorConfig `yaml:",inline"`
}

// HomeAssistantConfig enables Home Assistant MQTT discovery.
type HomeAssistantConfig struct {
	Enabled bool `yaml:"enabled"`
	// Prefix is the discovery prefix (default "homeassistant").
	Prefix string `yaml:"prefix"`
}

// Config configures the Sensors runner. The zero value is valid and
// publishes only <gw>/status.
type Config struct {
	Sensors       []SensorConfig      `yaml:"sensors"`
	Actuators     []ActuatorConfig    `yaml:"actuators"`
	HomeAssistant HomeAssistantConfig `yaml:"home_assistant"`
}

// WithDefaults returns c with every zero field of its entries set to its
// default (Interval, RepublishEvery, FailuresBeforeOffline, the Home
// Assistant prefix). It is the one place the runner's defaults are
// applied; the gateway's config applies it once after decoding, and New and
// Reload apply it to what they are given.
func (c Config) WithDefaults() Config {
	c.Sensors = slices.Clone(c.Sensors)
	for i := range c.Sensors {
		c.Sensors[i] = c.Sensors[i].WithDefaults()
	}
	if c.HomeAssistant.Prefix == "" {
		c.HomeAssistant.Prefix = "homeassistant"
	}
	return c
}

// WithDefaults returns c with zero fields set to their defaults.
func (c SensorConfig) WithDefaults() SensorConfig {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.RepublishEvery == 0 {
		c.RepublishEvery = DefaultRepublishEvery
	}
	if c.FailuresBeforeOffline == 0 {
		c.FailuresBeforeOffline = DefaultFailuresBeforeOffline
	}
	return c
}

// Validate reports every problem, as errors.Join of *field.Error whose
// paths are the file's keys, e.g. "sensors[1].address".
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i := range c.Sensors {
		p := field.Index("sensors", i)
		errs = append(errs, field.Prefix(p, c.Sensors[i].Validate()))
		if n := c.Sensors[i].Name; seen[n] && n != "" {
			errs = append(errs, field.Invalid(p+".name", n, "is used by another sensor; names must be unique"))
		}
		seen[c.Sensors[i].Name] = true
	}
	seen = map[string]bool{}
	for i := range c.Actuators {
		p := field.Index("actuators", i)
		errs = append(errs, field.Prefix(p, c.Actuators[i].Validate()))
		if n := c.Actuators[i].Name; seen[n] && n != "" {
			errs = append(errs, field.Invalid(p+".name", n, "is used by another actuator; names must be unique"))
		}
		seen[c.Actuators[i].Name] = true
	}
	if p := c.HomeAssistant.Prefix; p != "" && !validTopicPrefix(p) {
		errs = append(errs, field.Invalid("home_assistant.prefix", p, "is not a valid topic prefix; use e.g. homeassistant"))
	}
	return errors.Join(errs...)
}

// Validate reports the problems of one sensor entry, as *field.Error with
// the entry's keys as paths.
func (c *SensorConfig) Validate() error {
	errs := []error{c.SensorConfig.Validate()}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 100*time.Millisecond) {
		errs = append(errs, field.Invalid("interval", c.Interval, "is too short; use at least 100ms (e.g. 10s)"))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Deadband)) {
		if v := c.Deadband[k]; v < 0 || v != v {
			errs = append(errs, field.Invalid("deadband."+k, v, "must be 0 or more"))
		}
	}
	if c.RepublishEvery < 0 {
		errs = append(errs, field.Invalid("republish_every", c.RepublishEvery, "must be 0 (default 10) or more"))
	}
	if c.FailuresBeforeOffline < 0 {
		errs = append(errs, field.Invalid("failures_before_offline", c.FailuresBeforeOffline, "must be 0 (default 3) or more"))
	}
	return errors.Join(errs...)
}

func validTopicPrefix(p string) bool {
	for _, r := range p {
		if r == '+' || r == '#' || r == 0 {
			return false
		}
	}
	return p[0] != '/' && p[len(p)-1] != '/'
}
