package mqtt

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the gate hook's event counts; mochi's figures are read
// from its system info at scrape time.
type counters struct {
	accepted      atomic.Int64
	refused       atomic.Int64
	deniedPublish atomic.Int64
	intercepted   atomic.Int64
}

var _ prometheus.Collector = (*Broker)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mqttgate_mqtt_"+name, help, labels, nil)
}

var (
	descClients      = desc("clients_connected", "Clients connected, by listener.", "listener")
	descSessions     = desc("sessions", "Sessions known to the broker, connected or not.")
	descMsgIn        = desc("messages_received_total", "PUBLISH packets received.")
	descMsgOut       = desc("messages_sent_total", "PUBLISH packets sent.")
	descBytesIn      = desc("received_bytes_total", "Bytes received from clients.")
	descBytesOut     = desc("sent_bytes_total", "Bytes sent to clients.")
	descRetained     = desc("retained_messages", "Retained messages held.")
	descInflight     = desc("inflight_messages", "QoS 1/2 messages in flight.")
	descDropped      = desc("messages_dropped_total", "QoS 0 messages dropped because a client's write queue was full.")
	descHeld0        = desc("qos0_publish_held_total", "QoS 0 deliveries that waited for room in a client's write queue (publisher slowed instead of dropping).")
	descRequeued     = desc("messages_requeued_total", "QoS 1/2 messages put back into a session because its write queue was full.")
	descLost         = desc("messages_lost_total", "Acknowledged QoS 1/2 messages that could not be kept (should stay 0).")
	descThrottled    = desc("publish_throttled_total", "QoS 1/2 publishes held because a subscriber's backlog was full.")
	descQuota        = desc("publish_refused_quota_total", "QoS 1/2 publishes refused because a subscriber's backlog stayed full.")
	descKicked       = desc("slow_clients_disconnected_total", "Clients disconnected for not keeping up with their messages.")
	descSubs         = desc("subscriptions", "Client subscriptions.")
	descConnects     = desc("connects_total", "CONNECTs by result (limited: TCP/TLS connections closed at accept by a connection bound).", "result")
	descDenied       = desc("publish_denied_total", "Publishes refused by the access rules.")
	descIntercepted  = desc("publish_intercepted_total", "Publishes refused by an interceptor.")
	descStoreCommits = desc("store_commits_total", "Store transactions committed.")
	descStoreErrors  = desc("store_errors_total", "Store writes that failed.")
	descStorePending = desc("store_pending_changes", "Changes waiting for the next store commit.")
)

// Describe implements prometheus.Collector.
func (b *Broker) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClients, descSessions, descMsgIn, descMsgOut, descBytesIn, descBytesOut,
		descRetained, descInflight, descDropped, descHeld0, descRequeued, descLost, descThrottled, descQuota, descKicked, descSubs, descConnects, descDenied, descIntercepted,
		descStoreCommits, descStoreErrors, descStorePending} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (b *Broker) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	byListener := map[string]int{ListenerTCP: 0, ListenerWS: 0}
	if b.cfg.TLSAddr != "" {
		byListener[ListenerTLS] = 0
	}
	sessions := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		sessions++
		if !cl.Closed() {
			byListener[cl.Net.Listener]++
		}
	}
	for l, n := range byListener {
		gauge(descClients, float64(n), l)
	}
	gauge(descSessions, float64(sessions))
	info := b.srv.Info
	counter(descMsgIn, float64(atomic.LoadInt64(&info.MessagesReceived)))
	counter(descMsgOut, float64(atomic.LoadInt64(&info.MessagesSent)))
	counter(descBytesIn, float64(atomic.LoadInt64(&info.BytesReceived)))
	counter(descBytesOut, float64(atomic.LoadInt64(&info.BytesSent)))
	gauge(descRetained, float64(b.srv.Topics.Retained.Len()))
	gauge(descInflight, float64(atomic.LoadInt64(&info.Inflight)))
	f := b.flow
	counter(descDropped, float64(f.dropped0.Load()))
	counter(descHeld0, float64(f.held0.Load()))
	counter(descRequeued, float64(f.requeued.Load()))
	counter(descLost, float64(f.lost.Load()+atomic.LoadInt64(&info.InflightDropped)))
	counter(descThrottled, float64(f.throttled.Load()))
	counter(descQuota, float64(f.refused.Load()))
	counter(descKicked, float64(f.kicked.Load()))
	gauge(descSubs, float64(atomic.LoadInt64(&info.Subscriptions)))
	counter(descConnects, float64(b.hook.m.accepted.Load()), "accepted")
	counter(descConnects, float64(b.hook.m.refused.Load()), "refused")
	counter(descConnects, float64(b.lis.limits.limited.Load()), "limited")
	counter(descDenied, float64(b.hook.m.deniedPublish.Load()))
	counter(descIntercepted, float64(b.hook.m.intercepted.Load()))
	counter(descStoreCommits, float64(b.store.commits.Load()))
	counter(descStoreErrors, float64(b.store.errs.Load()))
	gauge(descStorePending, float64(b.store.pendingLen()))
}
