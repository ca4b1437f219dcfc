package hw

import (
	"context"
	"math"
	"sync"
	"time"
)

// Sim is a deterministic simulated sensor for demos and tests. Its n-th
// read (from 1) gives temperature_c = 21 + 3·sin(2πn/30) rounded to 0.01
// and reads_count = n, so every read differs. Safe for concurrent use.
type Sim struct {
	name string
	mu   sync.Mutex
	n    int64
}

var _ Sensor = (*Sim)(nil)

// NewSim returns a simulated sensor; it cannot fail.
func NewSim(name string) *Sim { return &Sim{name: name} }

// Name implements Sensor.
func (s *Sim) Name() string { return s.name }

// Read implements Sensor.
func (s *Sim) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	t := round2(21 + 3*math.Sin(2*math.Pi*float64(n)/30))
	return Reading{Time: time.Now(), Values: []Quantity{{"temperature", "c", t}, {"reads", "count", float64(n)}}}, nil
}

// Close implements Sensor; it does nothing.
func (s *Sim) Close() error { return nil }

// SimActuator is a simulated actuator that remembers its state. Safe for
// concurrent use.
type SimActuator struct {
	name string
	mu   sync.Mutex
	s    State
}

var _ Actuator = (*SimActuator)(nil)

// NewSimActuator returns a simulated actuator in state initial.
func NewSimActuator(name string, initial State) *SimActuator {
	return &SimActuator{name: name, s: initial}
}

// Name implements Actuator.
func (a *SimActuator) Name() string { return a.name }

// Set implements Actuator.
func (a *SimActuator) Set(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	a.s = s
	a.mu.Unlock()
	return nil
}

// State implements Actuator.
func (a *SimActuator) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.s
}

// Close implements Actuator; it does nothing.
func (a *SimActuator) Close() error { return nil }
