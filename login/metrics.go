package login

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	challenges prometheus.Counter
	logins     *prometheus.CounterVec
	failures   *prometheus.CounterVec
	blocks     prometheus.Counter
	blockedNow *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		challenges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqttgate_chap1_challenges_total", Help: "chap1 challenges issued (HTTP and in-band).",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqttgate_logins_total", Help: "Successful logins by method (chap1, plain).",
		}, []string{"method"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqttgate_login_failures_total", Help: "Failed logins by reason.",
		}, []string{"reason"}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqttgate_address_blocks_total", Help: "Times a source address was blocked after repeated failures.",
		}),
		blockedNow: prometheus.NewDesc("mqttgate_blocked_addresses", "Source addresses blocked now.", nil, nil),
	}
}

// reasonLabel maps a failure reason to a short, bounded label value.
func reasonLabel(reason string) string {
	for _, r := range []string{"malformed", "plain password not accepted", "unknown or already used", "expired", "another user", "another address", "empty client id", "unknown user", "wrong proof", "wrong password", "timeout", "out of order"} {
		if strings.Contains(reason, r) {
			return strings.ReplaceAll(r, " ", "_")
		}
	}
	return "other"
}

// Describe implements prometheus.Collector.
func (s *Service) Describe(ch chan<- *prometheus.Desc) {
	s.m.challenges.Describe(ch)
	s.m.logins.Describe(ch)
	s.m.failures.Describe(ch)
	s.m.blocks.Describe(ch)
	ch <- s.m.blockedNow
}

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	s.m.challenges.Collect(ch)
	s.m.logins.Collect(ch)
	s.m.failures.Collect(ch)
	s.m.blocks.Collect(ch)
	ch <- prometheus.MustNewConstMetric(s.m.blockedNow, prometheus.GaugeValue, float64(s.guard.blockedCount(time.Now())))
}

var _ prometheus.Collector = (*Service)(nil)
