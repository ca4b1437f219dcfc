package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is a snapshot of an uplink, published retained as JSON to
// <gateway-id>/uplink/<name>/state.
type State struct {
	Name            string  `json:"name"`
	Connected       bool    `json:"connected"`
	Since           string  `json:"since,omitempty"` // RFC 3339, last connect or disconnect
	QueueMessages   int64   `json:"queue_messages"`
	QueueBytes      int64   `json:"queue_bytes"`
	OldestAgeSecond float64 `json:"oldest_age_s"` // 0 when the queue is empty
	Sent            int64   `json:"sent"`
	Received        int64   `json:"received"`
	Dropped         int64   `json:"dropped"` // queue limits + link down (QoS 0)
	Refused         int64   `json:"refused"` // local publishes refused (queue not writable)
	LastError       string  `json:"last_error,omitempty"`
}

// State returns the current state. Safe for concurrent use.
func (u *Link) State() State {
	s := State{
		Name:      u.cfg.Name,
		Connected: u.connected.Load(),
		Sent:      u.sent.Load(),
		Received:  u.received.Load(),
		Dropped:   u.droppedOff.Load() + u.queueDropped(),
		Refused:   u.refused.Load(),
	}
	if q := u.q.Load(); q != nil {
		s.QueueMessages = q.depth.Load()
		s.QueueBytes = q.bytes.Load()
		if o := q.oldest.Load(); o != 0 && s.QueueMessages > 0 {
			s.OldestAgeSecond = max(0, time.Since(time.Unix(0, o)).Truncate(time.Second).Seconds())
		}
	}
	u.mu.Lock()
	s.LastError = u.lastError
	if !u.since.IsZero() {
		s.Since = u.since.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	u.mu.Unlock()
	return s
}

// queueDropped counts drops by the queue limits, including earlier Runs
// of this Uplink.
func (u *Link) queueDropped() int64 {
	if q := u.q.Load(); q != nil {
		return q.dropped.Load() + u.droppedQueueBefore.Load()
	}
	return u.droppedQueueBefore.Load()
}

// publishState publishes State retained when it changes, at most every
// stateEvery, until ctx is cancelled.
func (u *Link) publishState(ctx context.Context) {
	t := time.NewTicker(u.stateEvery)
	defer t.Stop()
	var last []byte
	for {
		b, err := json.Marshal(u.State())
		if err == nil && !bytes.Equal(b, last) {
			if err := u.broker.Publish(u.origin, u.stateTopic, b, true, 0); err != nil {
				u.log.Debug("publish uplink state", "err", err)
			} else {
				last = b
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var (
	uplinkLabels   = []string{"uplink"}
	descConnected  = prometheus.NewDesc("mqttgate_uplink_connected", "1 if the uplink is connected to its upstream broker.", uplinkLabels, nil)
	descQueueMsgs  = prometheus.NewDesc("mqttgate_uplink_queue_messages", "Messages in the uplink's store-and-forward queue.", uplinkLabels, nil)
	descQueueBytes = prometheus.NewDesc("mqttgate_uplink_queue_bytes", "Bytes in the uplink's store-and-forward queue.", uplinkLabels, nil)
	descOldest     = prometheus.NewDesc("mqttgate_uplink_queue_oldest_age_seconds", "Age of the oldest queued message, 0 if none.", uplinkLabels, nil)
	descSent       = prometheus.NewDesc("mqttgate_uplink_sent_total", "Messages delivered upstream (acknowledged for QoS 1/2).", uplinkLabels, nil)
	descReceived   = prometheus.NewDesc("mqttgate_uplink_received_total", "Messages from upstream published locally.", uplinkLabels, nil)
	descDropped    = prometheus.NewDesc("mqttgate_uplink_dropped_total", "Messages dropped: reason queue_limit (oldest dropped, bytes or age) or link_down (QoS 0 or no queue).", []string{"uplink", "reason"}, nil)
	descRefused    = prometheus.NewDesc("mqttgate_uplink_refused_total", "Local publishes refused because the queue could not store them.", uplinkLabels, nil)
	descConnects   = prometheus.NewDesc("mqttgate_uplink_connects_total", "Successful connections to the upstream.", uplinkLabels, nil)
)

// Describe implements prometheus.Collector.
func (u *Link) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descQueueMsgs, descQueueBytes, descOldest, descSent, descReceived, descDropped, descRefused, descConnects} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (u *Link) Collect(ch chan<- prometheus.Metric) {
	s := u.State()
	n := u.cfg.Name
	conn := 0.0
	if s.Connected {
		conn = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, conn, n)
	ch <- prometheus.MustNewConstMetric(descQueueMsgs, prometheus.GaugeValue, float64(s.QueueMessages), n)
	ch <- prometheus.MustNewConstMetric(descQueueBytes, prometheus.GaugeValue, float64(s.QueueBytes), n)
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, s.OldestAgeSecond, n)
	ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(s.Sent), n)
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(s.Received), n)
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(u.queueDropped()), n, "queue_limit")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(u.droppedOff.Load()), n, "link_down")
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(s.Refused), n)
	ch <- prometheus.MustNewConstMetric(descConnects, prometheus.CounterValue, float64(u.connects.Load()), n)
}
