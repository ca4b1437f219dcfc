package sensors

import (
	"github.com/prometheus/client_golang/prometheus"

	"mqttgate/hw"
)

var (
	descReads  = prometheus.NewDesc("mqttgate_sensor_reads_total", "Successful sensor readings.", []string{"sensor"}, nil)
	descErrors = prometheus.NewDesc("mqttgate_sensor_read_errors_total", "Failed sensor opens and readings.", []string{"sensor"}, nil)
	descOnline = prometheus.NewDesc("mqttgate_sensor_online", "1 while the sensor is online.", []string{"sensor"}, nil)
	descValue  = prometheus.NewDesc("mqttgate_sensor_value", "The latest reading of each quantity of an online sensor.", []string{"sensor", "quantity", "unit"}, nil)
)

var _ prometheus.Collector = (*Runner)(nil)

// Describe implements prometheus.Collector.
func (s *Runner) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReads
	ch <- descErrors
	ch <- descOnline
	ch <- descValue
}

// Collect implements prometheus.Collector. Counters survive Reload for
// sensors that keep their name.
func (s *Runner) Collect(ch chan<- prometheus.Metric) {
	for name, st := range s.Stats() {
		ch <- prometheus.MustNewConstMetric(descReads, prometheus.CounterValue, float64(st.Reads), name)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.Errors), name)
		on := 0.0
		if st.Online {
			on = 1
		}
		ch <- prometheus.MustNewConstMetric(descOnline, prometheus.GaugeValue, on, name)
		if !st.Online {
			continue
		}
		for _, q := range st.Values {
			ch <- prometheus.MustNewConstMetric(descValue, prometheus.GaugeValue, q.Value, name, q.Name, q.Unit)
		}
	}
}

// SensorStats are the counters of one sensor.
type SensorStats struct {
	Reads  int64 // successful readings
	Errors int64 // failed opens, reads and watches
	Online bool
	Values []hw.Quantity // the latest reading (nil before the first)
}

// Stats returns the counters of every configured sensor by name.
func (s *Runner) Stats() map[string]SensorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]SensorStats, len(s.stats))
	for name, st := range s.stats {
		ss := SensorStats{Reads: st.reads.Load(), Errors: st.errors.Load(), Online: st.online.Load()}
		if v := st.last.Load(); v != nil {
			ss.Values = *v
		}
		m[name] = ss
	}
	return m
}
