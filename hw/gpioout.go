package hw

import (
	"context"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
)

// GPIOOut is a digital output (relay, LED). Safe for concurrent use.
type GPIOOut struct {
	name      string
	where     string
	pin       gpio.PinIO
	activeLow bool

	mu    sync.Mutex
	state State
}

var _ Actuator = (*GPIOOut)(nil)

// NewGPIOOut drives pin to initial at once. With activeLow, On drives the
// pin low.
func NewGPIOOut(name string, pin gpio.PinIO, activeLow bool, initial State) (*GPIOOut, error) {
	a := &GPIOOut{name: name, where: fmt.Sprintf("gpio-out %q on %s", name, pin), pin: pin, activeLow: activeLow}
	if err := a.Set(context.Background(), initial); err != nil {
		return nil, err
	}
	return a, nil
}

// Name implements Actuator.
func (a *GPIOOut) Name() string { return a.name }

// Set implements Actuator.
func (a *GPIOOut) Set(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := gpio.Level(bool(s) != a.activeLow)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.pin.Out(l); err != nil {
		return fmt.Errorf("hw: %s: set %s: %w", a.where, s, err)
	}
	a.state = s
	return nil
}

// State implements Actuator.
func (a *GPIOOut) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// Close releases the pin, leaving its level as it is.
func (a *GPIOOut) Close() error { return nil }
