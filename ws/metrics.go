package ws

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts handshakes, refusals and challenges. Safe for concurrent use.
type metrics struct {
	handshakes atomic.Int64

	mu         sync.Mutex
	refused    map[string]int64
	challenges map[string]int64

	descHandshakes, descRefused, descChallenges, descConns, descPre *prometheus.Desc
}

func newMetrics() *metrics {
	return &metrics{
		refused:    map[string]int64{},
		challenges: map[string]int64{},
		descHandshakes: prometheus.NewDesc("mqttgate_ws_handshakes_total",
			"WebSocket upgrades accepted on /mqtt.", nil, nil),
		descRefused: prometheus.NewDesc("mqttgate_ws_refused_total",
			"WebSocket upgrades refused on /mqtt, by reason.", []string{"reason"}, nil),
		descChallenges: prometheus.NewDesc("mqttgate_http_challenges_total",
			"Requests to /api/auth/challenge, by result.", []string{"result"}, nil),
		descConns: prometheus.NewDesc("mqttgate_ws_connections",
			"Open WebSocket connections.", nil, nil),
		descPre: prometheus.NewDesc("mqttgate_ws_prelogin_connections",
			"Open WebSocket connections that have not logged in yet.", nil, nil),
	}
}

func (m *metrics) refuse(reason string) {
	m.mu.Lock()
	m.refused[reason]++
	m.mu.Unlock()
}

func (m *metrics) challenge(result string) {
	m.mu.Lock()
	m.challenges[result]++
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.m.descHandshakes
	ch <- s.m.descRefused
	ch <- s.m.descChallenges
	ch <- s.m.descConns
	ch <- s.m.descPre
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	m := s.m
	ch <- prometheus.MustNewConstMetric(m.descHandshakes, prometheus.CounterValue, float64(m.handshakes.Load()))
	m.mu.Lock()
	for r, n := range m.refused {
		ch <- prometheus.MustNewConstMetric(m.descRefused, prometheus.CounterValue, float64(n), r)
	}
	for r, n := range m.challenges {
		ch <- prometheus.MustNewConstMetric(m.descChallenges, prometheus.CounterValue, float64(n), r)
	}
	m.mu.Unlock()
	s.mu.Lock()
	n, pre := len(s.conns), s.slots.pre
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.descConns, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(m.descPre, prometheus.GaugeValue, float64(pre))
}

var _ prometheus.Collector = (*Server)(nil)

// Refused returns how many upgrades were refused for reason (for tests and
// diagnostics).
func (s *Server) Refused(reason string) int64 {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.m.refused[reason]
}
