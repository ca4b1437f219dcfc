package mqtt

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// metricValue returns the value of the broker's metric name on /metrics.
func metricValue(t *testing.T, b *Broker, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// sysValue returns the next live value of a $SYS topic (published after
// the call), skipping the retained one sent on subscribe.
func sysValue(t *testing.T, addr, id, topic string) string {
	t.Helper()
	w := mustDialWire(t, addr, id, "admin", 5, nil)
	defer w.conn.Close()
	w.subscribe(1, packets.Subscription{Filter: topic, Qos: 0})
	for {
		pk := w.expect(packets.Publish)
		if !pk.FixedHeader.Retain {
			return string(pk.Payload)
		}
	}
}

// $SYS/broker/version names the gateway and its version, not mochi's.
func TestSysBrokerVersionIsMqttgate(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Version = "1.2.3-test"
	e := startBroker(t, cfg, nil)
	if got := sysValue(t, e.addr(), "sys-v", "$SYS/broker/version"); got != "mqttgate 1.2.3-test" {
		t.Errorf("$SYS/broker/version = %q, want %q", got, "mqttgate 1.2.3-test")
	}
}

// $SYS/broker/messages/dropped counts what /metrics counts as dropped
// (mqttgate_mqtt_messages_dropped_total): a QoS 0 delivery that waited for
// room in a slow subscriber's write queue and was then sent is not
// dropped.
func TestSysDroppedMatchesMetrics(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxQueued = 8
	e := startBroker(t, cfg, nil)
	e.b.flow.wait0 = 20 * time.Second // generous under -race: nothing is dropped
	if !e.b.flow.wq.ok {
		t.Fatal("mochi's write queue not found: QoS 0 backpressure is off (see TestWriteQueueFound)")
	}
	slow, err := dialMQ(e.addr(), "slow", "admin", 4, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.close()
	if err := slow.subscribe("held/#", 0); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	payload := bytes.Repeat([]byte("x"), 200)
	errs := make(chan error, 1)
	go func() {
		m, err := dialMQ(e.addr(), "fast", "admin", 4, true, 0)
		if err != nil {
			errs <- err
			return
		}
		defer m.close()
		for range n {
			if err := m.publish0("held/x", payload); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	waitFor(t, "a held QoS 0 delivery", 20*time.Second, func() bool { return e.b.flow.held0.Load() > 0 })
	for i := range n {
		if _, err := slow.read(20 * time.Second); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	dropped := metricValue(t, e.b, "mqttgate_mqtt_messages_dropped_total")
	if got := sysValue(t, e.addr(), "sys-d", "$SYS/broker/messages/dropped"); got != fmt.Sprint(dropped) {
		t.Errorf("$SYS/broker/messages/dropped = %s, /metrics dropped = %v (held: %d)", got, dropped, e.b.flow.held0.Load())
	}
}
