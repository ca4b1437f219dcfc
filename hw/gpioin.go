package hw

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"mqttgate/field"
)

// edgePoll bounds how long Watch waits for an edge before checking its
// context, and so how long it takes to stop.
const edgePoll = 200 * time.Millisecond

// GPIOIn is a digital input (button, PIR, door contact). Its reading is
// state (0 or 1, the debounced level) and edges_count (debounced edges seen
// since start). It is a Watcher: the sensors package publishes on change rather than
// polling. Read is safe for concurrent use; run one Watch at a time.
type GPIOIn struct {
	name     string
	where    string
	pin      gpio.PinIO
	edge     gpio.Edge
	debounce time.Duration

	mu     sync.Mutex
	edges  int64
	closed bool
}

var _ Watcher = (*GPIOIn)(nil)

// NewGPIOIn configures pin as an input with the given pull ("up", "down",
// "none"/"") and edge ("both"/"", "rising", "falling"). debounce 0 means
// DefaultDebounce; a negative debounce disables debouncing.
func NewGPIOIn(name string, pin gpio.PinIO, pull, edge string, debounce time.Duration) (*GPIOIn, error) {
	where := fmt.Sprintf("gpio-in %q on %s", name, pin)
	p, err := parsePull(pull)
	if err != nil {
		return nil, fmt.Errorf("hw: %s: %w", where, err)
	}
	e, err := parseEdge(edge)
	if err != nil {
		return nil, fmt.Errorf("hw: %s: %w", where, err)
	}
	if err := pin.In(p, e); err != nil {
		return nil, fmt.Errorf("hw: %s: set input: %w", where, err)
	}
	switch {
	case debounce == 0:
		debounce = DefaultDebounce
	case debounce < 0:
		debounce = 0
	}
	return &GPIOIn{name: name, where: where, pin: pin, edge: e, debounce: debounce}, nil
}

// Name implements Sensor.
func (s *GPIOIn) Name() string { return s.name }

// Read implements Sensor: the current level, not debounced.
func (s *GPIOIn) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	return s.reading(s.pin.Read()), nil
}

func (s *GPIOIn) reading(l gpio.Level) Reading {
	s.mu.Lock()
	n := s.edges
	s.mu.Unlock()
	v := 0.0
	if l == gpio.High {
		v = 1
	}
	return Reading{Time: time.Now(), Values: []Quantity{{"state", "", v}, {"edges", "count", float64(n)}}}
}

// Watch implements Watcher. With edge "both" it emits when the debounced
// level changes; with "rising" or "falling" on every debounced edge. It
// returns within about 200 ms of ctx being cancelled.
func (s *GPIOIn) Watch(ctx context.Context, emit func(Reading)) error {
	last := s.pin.Read()
	emit(s.reading(last))
	for ctx.Err() == nil {
		if !s.pin.WaitForEdge(edgePoll) {
			continue
		}
		// Debounce: the level counts once no edge came for s.debounce.
		for s.debounce > 0 && s.pin.WaitForEdge(s.debounce) {
			if ctx.Err() != nil {
				return nil
			}
		}
		l := s.pin.Read()
		if l == last && s.edge == gpio.BothEdges {
			continue // bounced back
		}
		last = l
		s.mu.Lock()
		s.edges++
		s.mu.Unlock()
		emit(s.reading(l))
	}
	return nil
}

// Close stops edge detection and releases the pin.
func (s *GPIOIn) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.pin.Halt(); err != nil {
		return fmt.Errorf("hw: %s: halt: %w", s.where, err)
	}
	return nil
}

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case "", "none", "float":
		return gpio.Float, nil
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	}
	return gpio.PullNoChange, field.Invalid("pull", s, "is not a pull; use up, down or none")
}

func parseEdge(s string) (gpio.Edge, error) {
	switch s {
	case "", "both":
		return gpio.BothEdges, nil
	case "rising":
		return gpio.RisingEdge, nil
	case "falling":
		return gpio.FallingEdge, nil
	}
	return gpio.NoEdge, field.Invalid("edge", s, "is not an edge; use both, rising or falling")
}
