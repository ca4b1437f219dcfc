package sensors

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"mqttgate/hw"
)

// sensorLoop is the state of one sensor's reading loop (runSensor).
type sensorLoop struct {
	s                    *Runner
	c                    SensorConfig
	log                  *slog.Logger
	st                   *sensorStats
	stateTopic, availTop string
	db                   deadband
	online, known, found bool // found: discovery config published
	failures             int
	buf                  []byte
}

// runSensor opens, reads and publishes one sensor until ctx is done.
func (s *Runner) runSensor(ctx context.Context, c SensorConfig) {
	l := &sensorLoop{
		s: s, c: c, log: s.log.With("sensor", c.Name, "driver", c.Driver), st: s.statsOf(c.Name),
		stateTopic: s.topic("sensors", c.Name, "state"), availTop: s.topic("sensors", c.Name, "availability"),
		db: deadband{band: c.Deadband, every: c.RepublishEvery},
	}
	interval, threshold := c.Interval, c.FailuresBeforeOffline
	var dev hw.Sensor
	defer func() {
		if dev != nil {
			_ = dev.Close()
		}
	}()
	// Spread the first readings so sensors do not fire together.
	wait := time.Duration(rand.Float64() * float64(min(interval, 2*time.Second)))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = jitter(interval, rand.Float64())
		if dev == nil {
			d, err := s.open.OpenSensor(c.SensorConfig)
			if err != nil {
				l.fail("open", err)
				wait = backoff(interval, l.failures, threshold)
				continue
			}
			dev = d
		}
		if w, ok := dev.(hw.Watcher); ok {
			err := w.Watch(ctx, l.emit)
			if ctx.Err() != nil {
				return
			}
			_ = dev.Close()
			dev = nil
			l.fail("watch", err)
			wait = backoff(interval, l.failures, threshold)
			continue
		}
		r, err := dev.Read(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			l.fail("read", err)
			wait = jitter(backoff(interval, l.failures, threshold), rand.Float64())
			continue
		}
		if l.failures > 0 {
			l.log.Info("sensor recovered", "after_failures", l.failures)
		}
		l.failures = 0
		l.emit(r)
	}
}

// setOnline publishes the sensor's availability when it changes.
func (l *sensorLoop) setOnline(on bool) {
	if l.known && on == l.online {
		return
	}
	l.known, l.online = true, on
	l.st.online.Store(on)
	if on {
		l.s.publish(l.availTop, []byte("online"))
		l.log.Info("sensor online")
	} else {
		l.s.publish(l.availTop, []byte("offline"))
	}
}

// emit takes one reading: counted, kept for /metrics, published unless
// the deadband holds it back.
func (l *sensorLoop) emit(r hw.Reading) {
	l.st.reads.Add(1)
	last := slices.Clone(r.Values)
	l.st.last.Store(&last)
	l.setOnline(true)
	if !l.found {
		l.found = true
		l.s.discoverSensor(l.c, r)
	}
	if l.db.publish(r) {
		l.buf = appendReading(l.buf[:0], r)
		l.s.publish(l.stateTopic, l.buf)
	}
}

// fail counts a failed open, read or watch; the sensor goes offline at
// the threshold, or at once when it cannot be opened.
func (l *sensorLoop) fail(what string, err error) {
	l.failures++
	l.st.errors.Add(1)
	if l.failures == 1 || l.failures == l.c.FailuresBeforeOffline {
		l.log.Warn("sensor "+what+" failed", "failures", l.failures, "err", err)
	}
	if l.failures >= l.c.FailuresBeforeOffline || what == "open" {
		l.setOnline(false)
	}
}
