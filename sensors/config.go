package sensors

import (
	"errors"
	"fmt"
	"time"

	"mqttgate/hw"
)

// Defaults of SensorConfig fields left zero.
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

// Validate reports every problem, each error starting with the YAML key
// path it concerns, e.g. "sensors[1].address: ...".
func (c *Config) Validate() error {
	var errs []error
	prefix := func(p string, err error) {
		if err == nil {
			return
		}
		for _, e := range flatten(err) {
			errs = append(errs, fmt.Errorf("%s.%w", p, e))
		}
	}
	seen := map[string]bool{}
	for i := range c.Sensors {
		p := fmt.Sprintf("sensors[%d]", i)
		prefix(p, c.Sensors[i].Validate())
		if n := c.Sensors[i].Name; seen[n] && n != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is used by another sensor; names must be unique", p, n))
		}
		seen[c.Sensors[i].Name] = true
	}
	seen = map[string]bool{}
	for i := range c.Actuators {
		p := fmt.Sprintf("actuators[%d]", i)
		prefix(p, c.Actuators[i].Validate())
		if n := c.Actuators[i].Name; seen[n] && n != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is used by another actuator; names must be unique", p, n))
		}
		seen[c.Actuators[i].Name] = true
	}
	if p := c.HomeAssistant.Prefix; p != "" && !validTopicPrefix(p) {
		errs = append(errs, fmt.Errorf("home_assistant.prefix: %q is not a valid topic prefix; use e.g. homeassistant", p))
	}
	return errors.Join(errs...)
}

// Validate reports the problems of one sensor entry, each starting with
// its YAML key.
func (c *SensorConfig) Validate() error {
	errs := []error{c.SensorConfig.Validate()}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("interval: %s is too short; use at least 100ms (e.g. 10s)", c.Interval))
	}
	for k, v := range c.Deadband {
		if v < 0 || v != v {
			errs = append(errs, fmt.Errorf("deadband: %s: %v must be 0 or more", k, v))
		}
	}
	if c.RepublishEvery < 0 {
		errs = append(errs, fmt.Errorf("republish_every: %d must be 0 (default 10) or more", c.RepublishEvery))
	}
	if c.FailuresBeforeOffline < 0 {
		errs = append(errs, fmt.Errorf("failures_before_offline: %d must be 0 (default 3) or more", c.FailuresBeforeOffline))
	}
	return errors.Join(errs...)
}

func (c SensorConfig) interval() time.Duration {
	if c.Interval <= 0 {
		return DefaultInterval
	}
	return c.Interval
}

func (c SensorConfig) failuresBeforeOffline() int {
	if c.FailuresBeforeOffline <= 0 {
		return DefaultFailuresBeforeOffline
	}
	return c.FailuresBeforeOffline
}

func (c SensorConfig) republishEvery() int {
	if c.RepublishEvery <= 0 {
		return DefaultRepublishEvery
	}
	return c.RepublishEvery
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func validTopicPrefix(p string) bool {
	for _, r := range p {
		if r == '+' || r == '#' || r == 0 {
			return false
		}
	}
	return p[0] != '/' && p[len(p)-1] != '/'
}
