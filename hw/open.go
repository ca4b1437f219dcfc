package hw

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/host/v3"
)

// Opener turns configs into open sensors and actuators. periph's host
// drivers are initialised once, on the first hardware driver opened, so a
// config with only system and sim devices never touches hardware. Buses
// are opened once and shared by the devices on them until Close.
//
// The zero value uses /sys, /proc and "/" for the system sensor's disk. An
// Opener is safe for concurrent use; Close it when no device is in use.
type Opener struct {
	SysRoot  string // default "/sys"
	ProcRoot string // default "/proc"
	DataDir  string // the system sensor's default disk directory; default "/"

	hostOnce sync.Once
	hostErr  error

	mu   sync.Mutex
	i2c  map[string]i2c.BusCloser
	onew map[string]onewire.BusCloser
}

func (o *Opener) initHost() error {
	o.hostOnce.Do(func() {
		if _, err := host.Init(); err != nil {
			o.hostErr = fmt.Errorf("initialise periph host drivers: %w", err)
		}
	})
	return o.hostErr
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func busName(s string) string { return or(s, "the first bus") }

// OpenSensor opens the sensor cfg describes. cfg should have passed
// Validate. Errors name the sensor and, for hardware, the bus or pin.
func (o *Opener) OpenSensor(cfg SensorConfig) (Sensor, error) {
	switch cfg.Driver {
	case DriverSim:
		return NewSim(cfg.Name), nil
	case DriverSystem:
		return NewSystem(cfg.Name, or(o.ProcRoot, "/proc"), or(cfg.Path, or(o.DataDir, "/")))
	case DriverSoCTemp:
		return NewSoCTemp(cfg.Name, or(cfg.Path, filepath.Join(or(o.SysRoot, "/sys"), "class/thermal/thermal_zone0")))
	case DriverBME280, DriverBMP280:
		b, err := o.i2cBus(cfg.Name, cfg.Bus)
		if err != nil {
			return nil, err
		}
		return NewBMX280(cfg.Name, cfg.Driver, b, cfg.Address)
	case DriverDS18B20:
		rom, err := ParseROM(cfg.ROM)
		if err != nil {
			return nil, fmt.Errorf("hw: sensor %q: rom: %w", cfg.Name, err)
		}
		b, err := o.oneWireBus(cfg.Name, cfg.Bus)
		if err != nil {
			return nil, err
		}
		return NewDS18B20(cfg.Name, b, rom)
	case DriverGPIOIn:
		p, err := o.pin("sensor", cfg.Name, cfg.Pin)
		if err != nil {
			return nil, err
		}
		return NewGPIOIn(cfg.Name, p, cfg.Pull, cfg.Edge, cfg.Debounce)
	}
	return nil, fmt.Errorf("hw: sensor %q: unknown driver %q", cfg.Name, cfg.Driver)
}

// OpenActuator opens the actuator cfg describes and sets its initial
// state. cfg should have passed Validate.
func (o *Opener) OpenActuator(cfg ActuatorConfig) (Actuator, error) {
	initial := Off
	if cfg.Initial != "" {
		s, err := ParseState(cfg.Initial)
		if err != nil {
			return nil, fmt.Errorf("hw: actuator %q: initial: %w", cfg.Name, err)
		}
		initial = s
	}
	switch cfg.Driver {
	case DriverSim:
		return NewSimActuator(cfg.Name, initial), nil
	case DriverGPIOOut:
		p, err := o.pin("actuator", cfg.Name, cfg.Pin)
		if err != nil {
			return nil, err
		}
		return NewGPIOOut(cfg.Name, p, cfg.ActiveLow, initial)
	}
	return nil, fmt.Errorf("hw: actuator %q: unknown driver %q", cfg.Name, cfg.Driver)
}

func (o *Opener) pin(kind, name, pin string) (gpio.PinIO, error) {
	if err := o.initHost(); err != nil {
		return nil, fmt.Errorf("hw: %s %q: %w", kind, name, err)
	}
	p := gpioreg.ByName(pin)
	if p == nil {
		return nil, fmt.Errorf("hw: %s %q: no GPIO pin %q on this host; see mqttgate hw scan", kind, name, pin)
	}
	return p, nil
}

func (o *Opener) i2cBus(name, bus string) (i2c.Bus, error) {
	if err := o.initHost(); err != nil {
		return nil, fmt.Errorf("hw: sensor %q: %w", name, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.i2c[bus]; ok {
		return b, nil
	}
	b, err := i2creg.Open(bus)
	if err != nil {
		return nil, fmt.Errorf("hw: sensor %q: open I2C bus %s: %w (is I2C enabled? see mqttgate hw scan)", name, busName(bus), err)
	}
	if o.i2c == nil {
		o.i2c = map[string]i2c.BusCloser{}
	}
	o.i2c[bus] = b
	return b, nil
}

func (o *Opener) oneWireBus(name, bus string) (onewire.Bus, error) {
	if err := o.initHost(); err != nil {
		return nil, fmt.Errorf("hw: sensor %q: %w", name, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.onew[bus]; ok {
		return b, nil
	}
	b, err := onewirereg.Open(bus)
	if err != nil {
		return nil, fmt.Errorf("hw: sensor %q: open 1-Wire bus %s: %w (is the w1 kernel module loaded? see mqttgate hw scan)", name, busName(bus), err)
	}
	if o.onew == nil {
		o.onew = map[string]onewire.BusCloser{}
	}
	o.onew[bus] = b
	return b, nil
}

// Close closes the buses opened so far; devices on them stop working.
// The Opener stays usable: later opens open the buses again.
func (o *Opener) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, b := range o.i2c {
		errs = append(errs, b.Close())
	}
	for _, b := range o.onew {
		errs = append(errs, b.Close())
	}
	o.i2c, o.onew = nil, nil
	return errors.Join(errs...)
}
