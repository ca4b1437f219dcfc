package hw

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/onewire"

	"mqttgate/field"
)

// Sensor drivers.
const (
	DriverBME280  = "bme280"
	DriverBMP280  = "bmp280"
	DriverDS18B20 = "ds18b20"
	DriverGPIOIn  = "gpio-in"
	DriverGPIOOut = "gpio-out"
	DriverSoCTemp = "soc-temp"
	DriverSystem  = "system"
	DriverSim     = "sim"
)

// SensorDrivers and ActuatorDrivers list the accepted driver names.
var (
	SensorDrivers   = []string{DriverBME280, DriverBMP280, DriverDS18B20, DriverGPIOIn, DriverSoCTemp, DriverSystem, DriverSim}
	ActuatorDrivers = []string{DriverGPIOOut, DriverSim}
)

// DefaultDebounce is the debounce of a gpio-in whose config leaves it 0.
const DefaultDebounce = 20 * time.Millisecond

// SensorConfig configures one sensor. Which fields apply depends on Driver;
// fields a driver does not use must be left empty. The zero value is not
// valid (Name and Driver are required).
type SensorConfig struct {
	Name   string `yaml:"name"`   // topic-safe: letters, digits, '_' and '-'
	Driver string `yaml:"driver"` // see SensorDrivers
	// Bus is the I²C or 1-Wire bus: a periph bus name or number ("1",
	// "I2C1", "/dev/i2c-1"); empty means the first bus found.
	Bus string `yaml:"bus"`
	// Address is the I²C address (bme280/bmp280: 0x76, the default, or 0x77).
	Address uint16 `yaml:"address"`
	// Pin is the GPIO pin name as periph knows it ("GPIO17", "17").
	Pin string `yaml:"pin"`
	// ROM is a DS18B20's id, as Linux shows it ("28-0000070e41ac") or as
	// the 64-bit ROM code in hex ("0x740000070e41ac28").
	ROM string `yaml:"rom"`
	// Pull is the gpio-in pull resistor: up, down or none (default).
	Pull string `yaml:"pull"`
	// Edge is the gpio-in edge that triggers a reading: both (default),
	// rising or falling.
	Edge string `yaml:"edge"`
	// Debounce is how long a gpio-in must be stable before its new level
	// counts (default DefaultDebounce).
	Debounce time.Duration `yaml:"debounce"`
	// Path is the thermal zone directory for soc-temp (default
	// /sys/class/thermal/thermal_zone0) or the directory whose file system
	// the system sensor reports free space of (default: the data dir).
	Path string `yaml:"path"`
}

// ActuatorConfig configures one actuator.
type ActuatorConfig struct {
	Name   string `yaml:"name"`
	Driver string `yaml:"driver"` // see ActuatorDrivers
	Pin    string `yaml:"pin"`    // gpio-out
	// ActiveLow inverts the gpio-out pin: "on" drives it low (most relay
	// boards).
	ActiveLow bool `yaml:"active_low"`
	// Initial is the state set at start: on or off (default off).
	Initial string `yaml:"initial"`
	// OnShutdown is the state set on a clean stop: on, off, or empty to
	// leave the output as it is.
	OnShutdown string `yaml:"on_shutdown"`
}

// ValidName reports whether s is usable as a sensor or actuator name in
// topics: 1-64 of [A-Za-z0-9_-].
func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func validateName(name string) error {
	if !ValidName(name) {
		return field.Invalid("name", name, "is not a valid name; use 1-64 letters, digits, '_' or '-'")
	}
	return nil
}

// Validate reports every problem of c, as errors.Join of *field.Error
// whose paths are the entry's YAML keys.
func (c *SensorConfig) Validate() error {
	errs := []error{validateName(c.Name)}
	unused := func(key string, set bool) {
		if set {
			errs = append(errs, field.Errorf(key, "not used by driver %s; remove it", c.Driver))
		}
	}
	i2c, onew, gpio, path := false, false, false, false
	switch c.Driver {
	case DriverBME280, DriverBMP280:
		i2c = true
		if c.Address != 0 && c.Address != 0x76 && c.Address != 0x77 {
			errs = append(errs, field.Errorf("address", "%#x is not a valid %s address; use 0x76 or 0x77", c.Address, c.Driver))
		}
	case DriverDS18B20:
		onew = true
		if _, err := ParseROM(c.ROM); err != nil {
			errs = append(errs, field.Errorf("rom", "%v", err))
		}
	case DriverGPIOIn:
		gpio = true
		if c.Pin == "" {
			errs = append(errs, field.Errorf("pin", "missing; give the GPIO pin, e.g. GPIO17 (see mqttgate hw scan)"))
		}
		if _, err := parsePull(c.Pull); err != nil {
			errs = append(errs, err)
		}
		if _, err := parseEdge(c.Edge); err != nil {
			errs = append(errs, err)
		}
		if c.Debounce < 0 || c.Debounce > 10*time.Second {
			errs = append(errs, field.Errorf("debounce", "%s is out of range; use 0s to 10s (e.g. 20ms)", c.Debounce))
		}
	case DriverSoCTemp, DriverSystem:
		path = true
	case DriverSim:
	case "":
		errs = append(errs, field.Errorf("driver", "missing; use one of %s", strings.Join(SensorDrivers, ", ")))
	default:
		errs = append(errs, field.Errorf("driver", "%q is not a sensor driver; use one of %s", c.Driver, strings.Join(SensorDrivers, ", ")))
	}
	if c.Driver != "" {
		unused("bus", !i2c && !onew && c.Bus != "")
		unused("address", !i2c && c.Address != 0)
		unused("rom", !onew && c.ROM != "")
		unused("pin", !gpio && c.Pin != "")
		unused("pull", !gpio && c.Pull != "")
		unused("edge", !gpio && c.Edge != "")
		unused("debounce", !gpio && c.Debounce != 0)
		unused("path", !path && c.Path != "")
	}
	return errors.Join(errs...)
}

// Validate reports every problem of c, as errors.Join of *field.Error
// whose paths are the entry's YAML keys.
func (c *ActuatorConfig) Validate() error {
	errs := []error{validateName(c.Name)}
	switch c.Driver {
	case DriverGPIOOut:
		if c.Pin == "" {
			errs = append(errs, field.Errorf("pin", "missing; give the GPIO pin, e.g. GPIO27 (see mqttgate hw scan)"))
		}
	case DriverSim:
		if c.Pin != "" {
			errs = append(errs, field.Errorf("pin", "not used by driver sim; remove it"))
		}
		if c.ActiveLow {
			errs = append(errs, field.Errorf("active_low", "not used by driver sim; remove it"))
		}
	case "":
		errs = append(errs, field.Errorf("driver", "missing; use one of %s", strings.Join(ActuatorDrivers, ", ")))
	default:
		errs = append(errs, field.Errorf("driver", "%q is not an actuator driver; use one of %s", c.Driver, strings.Join(ActuatorDrivers, ", ")))
	}
	if c.Initial != "" {
		if _, err := ParseState(c.Initial); err != nil {
			errs = append(errs, field.Errorf("initial", "%q is not a state; use on or off", c.Initial))
		}
	}
	if c.OnShutdown != "" {
		if _, err := ParseState(c.OnShutdown); err != nil {
			errs = append(errs, field.Errorf("on_shutdown", "%q is not a state; use on, off, or leave it empty to keep the output", c.OnShutdown))
		}
	}
	return errors.Join(errs...)
}

// ParseROM parses a 1-Wire ROM id in the Linux form "28-0000070e41ac"
// (family-serial, the CRC is computed) or as a 64-bit hex ROM code
// "0x740000070e41ac28" (family in the low byte, CRC checked).
func ParseROM(s string) (onewire.Address, error) {
	if s == "" {
		return 0, errors.New("missing; give the sensor's id, e.g. 28-0000070e41ac (see mqttgate hw scan)")
	}
	bad := fmt.Errorf("%q is not a 1-Wire id; use the form 28-0000070e41ac or 0x740000070e41ac28", s)
	var a uint64
	if fam, ser, ok := strings.Cut(s, "-"); ok {
		f, err1 := strconv.ParseUint(fam, 16, 8)
		n, err2 := strconv.ParseUint(ser, 16, 48)
		if err1 != nil || err2 != nil || len(fam) != 2 || len(ser) != 12 {
			return 0, bad
		}
		a = f | n<<8
		var b [7]byte
		for i := range b {
			b[i] = byte(a >> (8 * i))
		}
		a |= uint64(onewire.CalcCRC(b[:])) << 56
		return onewire.Address(a), nil
	}
	h, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	n, err := strconv.ParseUint(h, 16, 64)
	if !ok || err != nil {
		return 0, bad
	}
	var b [8]byte
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	if !onewire.CheckCRC(b[:]) {
		return 0, fmt.Errorf("%q has a wrong CRC byte; copy the id from mqttgate hw scan", s)
	}
	return onewire.Address(n), nil
}
