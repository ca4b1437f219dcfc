package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMatchFilter(t *testing.T) {
	for _, c := range []struct {
		f, topic string
		want     bool
	}{
		{"#", "a/b", true}, {"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/+", "a/b", true},
		{"a/+", "a/b/c", false}, {"a/b", "a/b", true}, {"a/b", "a/c", false}, {"+/b", "a/b", true},
		{"#", "$SYS/x", false}, {"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false}, {"a", "a/b", false},
	} {
		if got := matchFilter(c.f, c.topic); got != c.want {
			t.Errorf("matchFilter(%q, %q) = %v, want %v", c.f, c.topic, got, c.want)
		}
	}
}

func TestMapTopics(t *testing.T) {
	rules := []Topic{
		{Pattern: "sensors/#", Direction: "out", QoS: 1, LocalPrefix: "gw-1/", RemotePrefix: "site-a/gw-1/"},
		{Pattern: "cmd/+", Direction: "in", LocalPrefix: "gw-1/", RemotePrefix: "site-a/gw-1/"},
	}
	if r, _, ok := mapOut(rules, "gw-1/sensors/t/state"); !ok || r != "site-a/gw-1/sensors/t/state" {
		t.Errorf("mapOut = %q %v", r, ok)
	}
	if _, _, ok := mapOut(rules, "gw-1/cmd/x"); ok {
		t.Error("an in rule mapped an out message")
	}
	if l, _, ok := mapIn(rules, "site-a/gw-1/cmd/x"); !ok || l != "gw-1/cmd/x" {
		t.Errorf("mapIn = %q %v", l, ok)
	}
}

func TestBackoffDelay(t *testing.T) {
	lo, hi := func() float64 { return 0 }, func() float64 { return 0.999999 }
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if got := backoffDelay(attempt, time.Second, time.Minute, hi); got > want || got < want*99/100 {
			t.Errorf("attempt %d: max delay %s, want about %s", attempt, got, want)
		}
		if got := backoffDelay(attempt, time.Second, time.Minute, lo); got != want/2 {
			t.Errorf("attempt %d: min delay %s, want %s", attempt, got, want/2)
		}
	}
	if got := backoffDelay(100, time.Second, time.Minute, hi); got > time.Minute || got < 59*time.Second {
		t.Errorf("capped delay %s, want about 1m", got)
	}
}

func TestUplinkConfigValidate(t *testing.T) {
	good := Config{Name: "cloud", URL: "ssl://broker.example:8883", CAFile: "/etc/ca.pem",
		Topics: []Topic{{Pattern: "sensors/#", Direction: "both", QoS: 1}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := Config{Name: "a b", URL: "http://x", CertFile: "c.pem", KeepAlive: -1,
		Topics: []Topic{{Pattern: "a/#/b", Direction: "up", QoS: 3, RemotePrefix: "x/+/"}},
		Queue:  QueueConfig{MaxBytes: -1}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config passed")
	}
	for _, key := range []string{"name: ", "url: scheme", "cert_file: ", "keep_alive: ", "topics[0].pattern: ",
		"topics[0].direction: ", "topics[0].qos: ", "topics[0].remote_prefix: ", "queue.max_bytes: "} {
		found := false
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.HasPrefix(line, key) {
				found = true
			}
		}
		if !found {
			t.Errorf("no error starting with %q in:\n%v", key, err)
		}
	}
}

// metricValue gathers u and returns the value of metric name (with the
// reason label if given).
func metricValue(t *testing.T, u *Link, name, reason string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(u); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					ok = true
				}
			}
			if ok {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}
