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
	userBlocks prometheus.Counter
	blockedNow *prometheus.Desc
	usersNow   *prometheus.Desc
	busy       *prometheus.Desc
	waiting    *prometheus.Desc
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
			Name: "mqttgate_address_blocks_total", Help: "Times a whole source address (IPv6: its /64) was blocked after failed logins with many user names.",
		}),
		userBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqttgate_user_blocks_total", Help: "Times a user name was blocked from one source address after repeated failures.",
		}),
		blockedNow: prometheus.NewDesc("mqttgate_blocked_addresses", "Whole source addresses blocked now.", nil, nil),
		usersNow:   prometheus.NewDesc("mqttgate_blocked_user_addresses", "(user name, source address) pairs blocked now.", nil, nil),
		busy: prometheus.NewDesc("mqttgate_password_checks_busy_total",
			"Plain-password checks refused because too many were waiting or the wait timed out (counted against no one).", nil, nil),
		waiting: prometheus.NewDesc("mqttgate_password_checks_waiting", "Plain-password checks waiting for a turn now.", nil, nil),
	}
}

// reasonLabel maps a failure reason to a short, bounded label value. An
// unknown user name and a wrong password or proof share one label,
// bad_credentials, so the metrics do not tell which names exist.
func reasonLabel(reason string) string {
	for _, r := range []string{"unknown user", "wrong proof", "wrong password"} {
		if strings.Contains(reason, r) {
			return "bad_credentials"
		}
	}
	for _, r := range []string{"malformed", "plain password not accepted", "unknown or already used", "expired", "another user", "another address", "empty client id", "timeout", "out of order"} {
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
	s.m.userBlocks.Describe(ch)
	ch <- s.m.blockedNow
	ch <- s.m.usersNow
	ch <- s.m.busy
	ch <- s.m.waiting
}

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	s.m.challenges.Collect(ch)
	s.m.logins.Collect(ch)
	s.m.failures.Collect(ch)
	s.m.blocks.Collect(ch)
	s.m.userBlocks.Collect(ch)
	srcs, pairs := s.guard.blockedCount(time.Now())
	ch <- prometheus.MustNewConstMetric(s.m.blockedNow, prometheus.GaugeValue, float64(srcs))
	ch <- prometheus.MustNewConstMetric(s.m.usersNow, prometheus.GaugeValue, float64(pairs))
	ch <- prometheus.MustNewConstMetric(s.m.busy, prometheus.CounterValue, float64(s.checks.busy.Load()))
	ch <- prometheus.MustNewConstMetric(s.m.waiting, prometheus.GaugeValue, float64(s.checks.waiting.Load()))
}

var _ prometheus.Collector = (*Service)(nil)
