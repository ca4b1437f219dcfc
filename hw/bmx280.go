package hw

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"
)

// BMX280 is a Bosch BME280 (temperature, humidity, pressure) or BMP280
// (temperature, pressure) on I²C, read in forced mode: the chip sleeps
// between readings. Safe for concurrent use.
type BMX280 struct {
	name   string
	bme    bool
	closer func() error
	envSensor
}

var _ Sensor = (*BMX280)(nil)

// NewBMX280 opens the chip at addr on bus: it reads the chip id and the
// calibration, failing early when the chip does not answer or is not a
// BME280/BMP280. driver is DriverBME280 or DriverBMP280; a BME280 driven as
// bmp280 reports no humidity, a BMP280 configured as bme280 is an error.
func NewBMX280(name, driver string, bus i2c.Bus, addr uint16) (*BMX280, error) {
	if addr == 0 {
		addr = 0x76
	}
	where := fmt.Sprintf("%s %q at %#x on %s", driver, name, addr, bus)
	opts := bmxx80.DefaultOpts
	dev, err := bmxx80.NewI2C(bus, addr, &opts)
	if err != nil {
		return nil, fmt.Errorf("hw: %s: %w", where, err)
	}
	chip := dev.String()
	isBME := strings.HasPrefix(chip, "BME280")
	switch {
	case strings.HasPrefix(chip, "BMP180"):
		return nil, fmt.Errorf("hw: %s: found a BMP180, which is not supported", where)
	case driver == DriverBME280 && !isBME:
		return nil, fmt.Errorf("hw: %s: found a BMP280 (no humidity); set driver: bmp280", where)
	}
	return &BMX280{name: name, bme: isBME && driver == DriverBME280, closer: dev.Halt, envSensor: envSensor{where: where, dev: dev}}, nil
}

// Name implements Sensor.
func (s *BMX280) Name() string { return s.name }

// Read implements Sensor: temperature_c, pressure_hpa and, on a BME280,
// humidity_pct. A forced measurement takes about 30 ms.
func (s *BMX280) Read(ctx context.Context) (Reading, error) {
	e, err := s.sense(ctx)
	if err != nil {
		return Reading{}, err
	}
	r := Reading{Time: time.Now(), Values: make([]Quantity, 0, 3)}
	r.Values = append(r.Values, Quantity{"temperature", "c", round2(celsius(e.Temperature))})
	if s.bme {
		r.Values = append(r.Values, Quantity{"humidity", "pct", round2(float64(e.Humidity) / float64(physic.PercentRH))})
	}
	r.Values = append(r.Values, Quantity{"pressure", "hpa", round2(float64(e.Pressure) / float64(100*physic.Pascal))})
	return r, nil
}

// Close puts the chip to sleep and releases it.
func (s *BMX280) Close() error { return s.close(s.closer) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }
