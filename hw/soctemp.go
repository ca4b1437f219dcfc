package hw

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SoCTemp reads the board's CPU temperature from a Linux thermal zone
// (sysfs). Safe for concurrent use; it holds no open file.
type SoCTemp struct {
	name string
	zone string
}

var _ Sensor = (*SoCTemp)(nil)

// NewSoCTemp returns a sensor for the thermal zone directory zone (e.g.
// /sys/class/thermal/thermal_zone0). It reads once to fail early.
func NewSoCTemp(name, zone string) (*SoCTemp, error) {
	s := &SoCTemp{name: name, zone: zone}
	if _, err := s.Read(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Name implements Sensor.
func (s *SoCTemp) Name() string { return s.name }

// Read implements Sensor: temperature_c.
func (s *SoCTemp) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	p := filepath.Join(s.zone, "temp")
	b, err := os.ReadFile(p)
	if err != nil {
		return Reading{}, fmt.Errorf("hw: soc-temp %q: %w", s.name, err)
	}
	milli, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return Reading{}, fmt.Errorf("hw: soc-temp %q: %s: not a temperature in millidegrees: %q", s.name, p, strings.TrimSpace(string(b)))
	}
	return Reading{Time: time.Now(), Values: []Quantity{{"temperature", "c", round2(float64(milli) / 1000)}}}, nil
}

// Close implements Sensor; it does nothing.
func (s *SoCTemp) Close() error { return nil }
