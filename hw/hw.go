package hw

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Quantity is one measured value of a Reading. Name and Unit are lower case
// and safe in MQTT topics and JSON keys; the sensors package publishes the value
// under the key "<name>_<unit>" (or "<name>" when Unit is empty).
type Quantity struct {
	Name  string  // e.g. "temperature"
	Unit  string  // e.g. "c", "pct", "hpa", "load", "bytes", "s"
	Value float64 // NaN and ±Inf are never produced by the drivers here
}

// Key returns the JSON key of q: "<name>_<unit>", or the name alone when
// the quantity has no unit.
func (q Quantity) Key() string {
	if q.Unit == "" {
		return q.Name
	}
	return q.Name + "_" + q.Unit
}

// Reading is the result of reading a sensor once: when, and what.
type Reading struct {
	Time   time.Time
	Values []Quantity
}

// Sensor is something that can be read. Implementations in this package
// are safe for concurrent use; Close releases the device and makes further
// reads fail.
type Sensor interface {
	// Name is the configured name of the sensor.
	Name() string
	// Read takes one reading. It returns an error naming the sensor and
	// what failed (bus, device, file) when it cannot.
	Read(ctx context.Context) (Reading, error)
	// Close releases the device.
	Close() error
}

// Watcher is implemented by event-driven sensors (gpio-in). Watch calls
// emit with the current reading once at start and then after each change;
// it blocks until ctx is cancelled (returning nil) or the device fails
// (returning the error). emit must not block for long.
type Watcher interface {
	Sensor
	Watch(ctx context.Context, emit func(Reading)) error
}

// State is the state of a binary actuator (relay, LED, sim).
type State bool

// The two states of an actuator.
const (
	Off State = false
	On  State = true
)

// String returns "on" or "off".
func (s State) String() string {
	if s {
		return "on"
	}
	return "off"
}

// ParseState parses "on"/"off" and the usual synonyms (true/false, 1/0,
// high/low), case-insensitively.
func ParseState(s string) (State, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "on", "true", "1", "high":
		return On, nil
	case "off", "false", "0", "low":
		return Off, nil
	}
	return Off, fmt.Errorf("hw: %q is not a state; use on or off", s)
}

// Actuator is something that can be switched. Implementations in this
// package are safe for concurrent use.
type Actuator interface {
	Name() string
	// Set switches the actuator; on error the state is unchanged.
	Set(ctx context.Context, s State) error
	// State returns the last state set successfully (the initial state
	// before the first Set).
	State() State
	// Close releases the device without changing its output; callers
	// wanting a shutdown state Set it first.
	Close() error
}
