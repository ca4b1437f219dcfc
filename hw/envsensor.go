package hw

import (
	"context"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/physic"
)

// envSensor is what the BMX280 and DS18B20 share: a periph environment
// sensor read under a mutex until it is closed. Safe for concurrent use;
// the zero value is a closed sensor.
type envSensor struct {
	where string // e.g. `ds18b20 "outside" (0x...) on bus`, for errors

	mu  sync.Mutex
	dev interface{ Sense(*physic.Env) error } // nil once closed
}

// sense reads the device, failing when ctx is done or the sensor closed.
func (s *envSensor) sense(ctx context.Context) (physic.Env, error) {
	var e physic.Env
	if err := ctx.Err(); err != nil {
		return e, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return e, fmt.Errorf("hw: %s: closed", s.where)
	}
	if err := s.dev.Sense(&e); err != nil {
		return e, fmt.Errorf("hw: %s: read: %w", s.where, err)
	}
	return e, nil
}

// close marks the sensor closed and, the first time, calls release if it
// is not nil; later calls return nil.
func (s *envSensor) close(release func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		return nil
	}
	s.dev = nil
	if release == nil {
		return nil
	}
	return release()
}

// celsius converts a periph temperature to °C.
func celsius(t physic.Temperature) float64 {
	return float64(t-physic.ZeroCelsius) / float64(physic.Celsius)
}
