package sensors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"mqttgate/hw"
	"mqttgate/topics"
)

// origin is the client id the runner publishes as.
const origin = "mqttgate-hw"

// Sensors reads the configured sensors and publishes their readings,
// drives the configured actuators from commands, and keeps
// <gw>/status up to date. New starts nothing; Run does the work.
//
// Each sensor runs on its own: a sensor that fails goes offline and is
// retried with back-off while the others keep publishing. Methods are safe
// for concurrent use. Sensors is a prometheus.Collector (see metrics.go).
type Runner struct {
	log    *slog.Logger
	broker Broker
	gw     string
	open   *hw.Opener

	mu      sync.Mutex
	cfg     Config
	reload  chan struct{}
	stats   map[string]*sensorStats
	states  map[string]hw.State // actuator states, kept across reloads
	running atomic.Bool
}

type sensorStats struct {
	reads, errors atomic.Int64
	online        atomic.Bool
	last          atomic.Pointer[[]hw.Quantity] // the latest reading's values
}

// New validates cfg and returns a runner publishing under gatewayID.
// open opens the devices (nil: a zero hw.Opener, real /sys and /proc).
func New(cfg Config, log *slog.Logger, broker Broker, gatewayID string, open *hw.Opener) (*Runner, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sensors: sensors config: %w", err)
	}
	if broker == nil {
		return nil, errors.New("sensors: sensors: no broker")
	}
	if err := topics.CheckName(gatewayID); err != nil {
		return nil, fmt.Errorf("sensors: gateway id %q %w", gatewayID, err)
	}
	if open == nil {
		open = &hw.Opener{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Runner{
		log: log.With("component", "sensors"), broker: broker, gw: gatewayID, open: open,
		cfg: cfg, reload: make(chan struct{}, 1), states: map[string]hw.State{},
	}
	s.stats = s.makeStats(cfg)
	return s, nil
}

func (s *Runner) makeStats(cfg Config) map[string]*sensorStats {
	m := make(map[string]*sensorStats, len(cfg.Sensors))
	for _, c := range cfg.Sensors {
		if old, ok := s.stats[c.Name]; ok {
			m[c.Name] = old
		} else {
			m[c.Name] = &sensorStats{}
		}
	}
	return m
}

// Reload replaces the configuration of a running (or not yet running)
// runner, e.g. on SIGHUP: Run stops every sensor and actuator and starts
// them again from cfg. Actuators keep their current state (initial is not
// applied again to an actuator of the same name); sensors no longer
// configured are published offline. An invalid cfg is returned as an error
// and the runner goes on with the old one.
func (s *Runner) Reload(cfg Config) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sensors: sensors config: %w", err)
	}
	s.mu.Lock()
	s.cfg = cfg
	s.stats = s.makeStats(cfg)
	s.mu.Unlock()
	select {
	case s.reload <- struct{}{}:
	default:
	}
	return nil
}

func (s *Runner) topic(parts ...string) string {
	t := s.gw
	for _, p := range parts {
		t += "/" + p
	}
	return t
}

func (s *Runner) publish(topic string, payload []byte) {
	if err := s.broker.Publish(origin, topic, payload, true, 1); err != nil {
		s.log.Warn("publish failed", "topic", topic, "err", err)
	}
}

// Run publishes <gw>/status online, runs the sensors and actuators until
// ctx is cancelled, then sets each actuator to its on_shutdown state,
// publishes the sensors and <gw>/status offline and returns nil. Stopping
// waits for reads in progress (at most about a second for the drivers
// here). Run may be called once.
func (s *Runner) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sensors: sensors: Run called twice")
	}
	s.publish(s.topic("status"), []byte("online"))
	var prev Config
	for {
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		s.offlineRemoved(prev, cfg)
		prev = cfg
		gctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		acts := s.startActuators(gctx, &wg, cfg)
		for _, c := range cfg.Sensors {
			wg.Go(func() { s.runSensor(gctx, c) })
		}
		stopping := false
		select {
		case <-ctx.Done():
			stopping = true
		case <-s.reload:
			s.log.Info("reloading sensors and actuators", "sensors", len(cfg.Sensors), "actuators", len(cfg.Actuators))
		}
		cancel()
		wg.Wait()
		s.stopActuators(acts, stopping)
		if stopping {
			for _, c := range cfg.Sensors {
				s.publish(s.topic("sensors", c.Name, "availability"), []byte("offline"))
			}
			s.publish(s.topic("status"), []byte("offline"))
			return nil
		}
	}
}

func (s *Runner) offlineRemoved(prev, cfg Config) {
	keep := map[string]bool{}
	for _, c := range cfg.Sensors {
		keep[c.Name] = true
	}
	for _, c := range prev.Sensors {
		if !keep[c.Name] {
			s.publish(s.topic("sensors", c.Name, "availability"), []byte("offline"))
		}
	}
}

func (s *Runner) statsOf(name string) *sensorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stats[name]; ok {
		return st
	}
	return &sensorStats{}
}
