package hw

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/devices/v3/ds18b20"
)

// DS18B20 is a Maxim DS18B20 temperature sensor on a 1-Wire bus, addressed
// by its ROM id so several can share one bus. Reads use 12-bit resolution
// (0.0625 °C) and take about 750 ms. Safe for concurrent use.
type DS18B20 struct {
	name string
	envSensor
}

var _ Sensor = (*DS18B20)(nil)

// NewDS18B20 opens the sensor with ROM id rom on bus, reading its
// scratchpad once to fail early when it does not answer.
func NewDS18B20(name string, bus onewire.Bus, rom onewire.Address) (*DS18B20, error) {
	where := fmt.Sprintf("ds18b20 %q (%#016x) on %s", name, uint64(rom), bus)
	if f := ds18b20.Family(rom & 0xff); f != ds18b20.DS18B20 && f != ds18b20.DS18S20 {
		return nil, fmt.Errorf("hw: %s: family %#02x is not a DS18B20 (0x28) or DS18S20 (0x10)", where, byte(f))
	}
	dev, err := ds18b20.New(bus, rom, 12)
	if err != nil {
		return nil, fmt.Errorf("hw: %s: %w", where, err)
	}
	return &DS18B20{name: name, envSensor: envSensor{where: where, dev: dev}}, nil
}

// Name implements Sensor.
func (s *DS18B20) Name() string { return s.name }

// Read implements Sensor: temperature_c.
func (s *DS18B20) Read(ctx context.Context) (Reading, error) {
	e, err := s.sense(ctx)
	if err != nil {
		return Reading{}, err
	}
	c := celsius(e.Temperature)
	if c == 85 {
		// The power-on value of the register: no conversion happened
		// (periph's own check compares against a delta and never fires).
		return Reading{}, fmt.Errorf("hw: %s: read: has not performed a temperature conversion (85 °C power-on value; check power and the pull-up)", s.where)
	}
	return Reading{Time: time.Now(), Values: []Quantity{{"temperature", "c", round2(c)}}}, nil
}

// Close releases the sensor (the bus stays open for the others on it).
func (s *DS18B20) Close() error { return s.close(nil) }
