package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// End-to-end tests of the uplink: the real binary bridging to a real
// Debian mosquitto started by the test on a loopback port.

// upstream is a mosquitto the test can stop and start again, with paho
// helpers that fail the test.
type upstream struct {
	*gatetest.Mosquitto
	t *testing.T
}

// newUpstream prepares (does not start) the upstream; persist keeps its
// sessions and queued messages across Stop and Start.
func newUpstream(t *testing.T, persist bool) *upstream {
	t.Helper()
	return &upstream{Mosquitto: gatetest.NewMosquitto(t, gatetest.MosquittoOptions{Persist: persist}), t: t}
}

// connect connects a paho client to the upstream; handler receives every
// message, also those of a kept session delivered right after CONNACK.
func (u *upstream) connect(id string, clean bool, handler paho.MessageHandler) paho.Client {
	u.t.Helper()
	o := paho.NewClientOptions().AddBroker(u.URL()).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetProtocolVersion(4).SetOrderMatters(true).SetDefaultPublishHandler(handler)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		u.t.Fatalf("connect %s to the upstream: %v", id, tok.Error())
	}
	u.t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// subscribe subscribes c at QoS 1 to filter; messages go to c's default
// handler.
func (u *upstream) subscribe(c paho.Client, filter string) {
	u.t.Helper()
	if tok := c.Subscribe(filter, 1, nil); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		u.t.Fatalf("subscribe %s upstream: %v", filter, tok.Error())
	}
}

// sensorsOutRule is the uplink topic rule that sends the local
// gw-test/sensors/# to the upstream as site/gw-test/sensors/#.
const sensorsOutRule = `      - pattern: "sensors/#"
        direction: out
        qos: 1
        local_prefix: "gw-test/"
        remote_prefix: "site/gw-test/"
`

// uplinkYAML is the gateway configuration with one uplink "cloud" to up.
func uplinkYAML(up *upstream, topics string) string {
	return gatetest.BaseYAML + fmt.Sprintf(`uplinks:
  - name: cloud
    url: %s
    keep_alive: 5s
    reconnect_min: 50ms
    reconnect_max: 500ms
    drain_rate: 5000
    topics:
%s`, up.URL(), topics)
}

// metrics returns the gateway's /metrics text.
func metrics(t *testing.T, g *gatetest.Gateway) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(g.HTTPURL() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// metricValue finds "name{labels} value" in a /metrics text; labels is
// the exact label text, e.g. uplink="cloud".
func metricValue(text, name, labels string) (float64, bool) {
	prefix := name + "{" + labels + "} "
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// waitMetric polls /metrics until name{labels} satisfies ok.
func waitMetric(t *testing.T, g *gatetest.Gateway, name, labels string, what string, ok func(float64) bool) {
	t.Helper()
	var text string
	var v float64
	var found bool
	if !gatetest.Poll(gatetest.WaitTimeout, func() bool {
		text = metrics(t, g)
		v, found = metricValue(text, name, labels)
		return found && ok(v)
	}) {
		t.Fatalf("/metrics: %s{%s}: want %s, have (found %v) %v\n%s", name, labels, what, found, v, grepLines(text, "mqttgate_uplink"))
	}
}

func eq(n float64) func(float64) bool { return func(v float64) bool { return v == n } }

// TestUplinkOutageKill9 is issue 6's outage test against the binary: the
// upstream is down, 1000 QoS 1 messages on four topics are acknowledged
// by the gateway, the gateway is killed with SIGKILL and started again,
// then the upstream starts: all 1000 arrive upstream, in order per topic.
func TestUplinkOutageKill9(t *testing.T) {
	up := newUpstream(t, true)
	// A persistent collector session upstream, made while the upstream is
	// up for a moment: it keeps what arrives before the collector is back.
	up.Start()
	col := up.connect("collector", false, func(paho.Client, paho.Message) {})
	up.subscribe(col, "site/#")
	col.Disconnect(50)
	up.Stop()

	g := gatetest.Start(t, gatetest.Options{YAML: uplinkYAML(up, sensorsOutRule)})
	pw := g.AdminPassword() // the uplink is hooked before the broker listens: publish at once

	const topics, perTopic = 4, 250
	const total = topics * perTopic
	var wg sync.WaitGroup
	for i := range topics {
		c := connectV3(t, g, "admin", pw, fmt.Sprintf("pub-%d", i), true)
		wg.Go(func() {
			for n := range perTopic {
				tok := c.Publish(fmt.Sprintf("gw-test/sensors/s%d", i), 1, false, strconv.Itoa(n))
				if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
					t.Errorf("publish s%d #%d: no PUBACK: %v", i, n, tok.Error())
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// MQTT 3.1.1 has no negative PUBACK, so check that every acknowledged
	// message is in the queue, as a user would on /metrics.
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, "all 1000 queued", eq(total))
	waitMetric(t, g, "mqttgate_uplink_connected", `uplink="cloud"`, "0 (upstream down)", eq(0))

	g.Kill()
	g.StartAgain()
	if !g.WaitLog(`msg="queue holds messages from before"`, 20*time.Second) {
		t.Error("the restarted gateway does not log the queue it found")
	}
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, "1000 kept across SIGKILL", eq(total))

	var arrived gatetest.Recorder
	up.Start()
	up.connect("collector", false, func(c paho.Client, m paho.Message) {
		if _, err := strconv.Atoi(string(m.Payload())); !strings.HasPrefix(m.Topic(), "site/gw-test/sensors/") || err != nil {
			return // e.g. the status
		}
		arrived.Paho(c, m)
	})
	gatetest.Poll(30*time.Second, func() bool { return arrived.Distinct() >= total }) // what is missing is reported below
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, "0 once the upstream acknowledged all", eq(0))

	d, received := arrived.Distinct(), arrived.Len()
	t.Logf("outage with SIGKILL: sent %d, received %d, duplicates %d, lost %d", total, received, received-d, total-d)
	if d != total {
		t.Errorf("upstream has %d distinct messages of %d", d, total)
	}
	for i := range topics {
		topic := fmt.Sprintf("site/gw-test/sensors/s%d", i)
		// In order: the first copy of each message comes after the first
		// copy of the one before (a duplicate is a QoS 1 resend).
		last := arrived.CheckOrder(t, topic)
		if last != perTopic-1 {
			t.Errorf("%s: last message %d, want %d", topic, last, perTopic-1)
		}
	}
}

// TestUplinkInRules: a message published upstream reaches a local
// subscriber with the prefix mapped, and an out rule that matches the
// local topic too does not send it back up.
func TestUplinkInRules(t *testing.T) {
	up := newUpstream(t, false)
	up.Start()
	upIn := new(gatetest.Recorder)
	watch := up.connect("watcher", true, upIn.Paho)
	up.subscribe(watch, "#")

	g := gatetest.Start(t, gatetest.Options{YAML: uplinkYAML(up, `      - pattern: "cmd/#"
        direction: in
        qos: 1
        local_prefix: "gw-test/"
        remote_prefix: "site/gw-test/"
      - pattern: "#"
        direction: out
        qos: 1
        local_prefix: "gw-test/"
        remote_prefix: "site/gw-test/"
`)})
	local := new(gatetest.Recorder)
	c := connectV3(t, g, "admin", g.AdminPassword(), "local-sub", true)
	subscribe(t, c, "gw-test/cmd/#", 1, local)
	// Connected and subscribed upstream once the gateway said online
	// (the status maps through the out rule).
	if _, ok := upIn.Within(20*time.Second, func(m gatetest.Message) bool { return m.Topic == "site/gw-test/status" && m.Payload == "online" }); !ok {
		t.Fatalf("upstream never saw site/gw-test/status online; it saw %v", upIn.All())
	}
	waitMetric(t, g, "mqttgate_uplink_connected", `uplink="cloud"`, "1", eq(1))

	pub := up.connect("cloud-app", true, nil)
	if tok := pub.Publish("site/gw-test/cmd/led", 1, false, "on"); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("upstream publish: %v", tok.Error())
	}
	m, ok := local.Within(20*time.Second, topicIs("gw-test/cmd/led"))
	if !ok {
		t.Fatalf("the in message did not reach the local subscriber; it got %v", local.All())
	}
	if m.Payload != "on" {
		t.Errorf("local subscriber got %q on gw-test/cmd/led, want \"on\"", m.Payload)
	}
	// A local message published afterwards takes the same path upstream
	// as an echo would, behind it; once it is there, an echo would be too.
	publish(t, c, "gw-test/marker", 1, false, "m")
	if _, ok := upIn.Within(20*time.Second, topicIs("site/gw-test/marker")); !ok {
		t.Fatal("the local marker message did not reach the upstream")
	}
	n := 0
	for _, m := range upIn.All() {
		if m.Topic == "site/gw-test/cmd/led" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("upstream saw site/gw-test/cmd/led %d times, want 1 (the original; no echo)", n)
	}
	waitMetric(t, g, "mqttgate_uplink_received_total", `uplink="cloud"`, "1", eq(1))
}

// TestUplinkStateAndWill: the uplink's state is retained locally and in
// /metrics, through a link loss and return; the upstream sees the
// gateway online, and offline (the will) once the gateway is SIGKILLed.
func TestUplinkStateAndWill(t *testing.T) {
	up := newUpstream(t, false)
	up.Start()
	g := gatetest.Start(t, gatetest.Options{YAML: uplinkYAML(up, sensorsOutRule)})
	const stateTopic = "gw-test/uplink/cloud/state"
	pw := g.AdminPassword()
	lc := connectV3(t, g, "admin", pw, "state-1", true)
	states := new(gatetest.Recorder)
	subscribe(t, lc, stateTopic, 1, states)
	waitState := func(what string, ok func(s map[string]any) bool) {
		t.Helper()
		_, found := states.Within(20*time.Second, func(m gatetest.Message) bool {
			var s map[string]any
			return m.Topic == stateTopic && json.Unmarshal([]byte(m.Payload), &s) == nil && ok(s)
		})
		if !found {
			var last string
			if all := states.All(); len(all) > 0 {
				last = all[len(all)-1].Payload
			}
			t.Fatalf("%s never had %s; last state %s", stateTopic, what, last)
		}
	}
	num := func(s map[string]any, k string) float64 { f, _ := s[k].(float64); return f }

	// The upstream sees the gateway online (retained).
	status := new(gatetest.Recorder)
	up.subscribe(up.connect("watch-1", true, status.Paho), "gw-test/status")
	if _, ok := status.Within(20*time.Second, func(m gatetest.Message) bool { return m.Payload == "online" }); !ok {
		t.Fatalf("upstream gw-test/status: want online, got %v", status.All())
	}
	waitState("connected true and an empty queue", func(s map[string]any) bool {
		return s["connected"] == true && s["name"] == "cloud" && num(s, "queue_messages") == 0
	})
	waitMetric(t, g, "mqttgate_uplink_connected", `uplink="cloud"`, "1", eq(1))

	// Link down: the state says so, and counts what waits in the queue.
	up.Stop()
	waitState("connected false", func(s map[string]any) bool { return s["connected"] == false })
	waitMetric(t, g, "mqttgate_uplink_connected", `uplink="cloud"`, "0", eq(0))
	for i := range 5 {
		publish(t, lc, "gw-test/sensors/t", 1, false, strconv.Itoa(i))
	}
	waitState("5 queued messages", func(s map[string]any) bool {
		return s["connected"] == false && num(s, "queue_messages") == 5 && num(s, "queue_bytes") > 0
	})
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, "5", eq(5))
	if v, ok := metricValue(metrics(t, g), "mqttgate_uplink_queue_bytes", `uplink="cloud"`); !ok || v <= 0 {
		t.Errorf("mqttgate_uplink_queue_bytes = %v (found %v), want > 0 with 5 queued", v, ok)
	}

	// Link back: the queue drains, and the gateway says online again.
	up.Start()
	waitState("connected true, queue drained", func(s map[string]any) bool {
		return s["connected"] == true && num(s, "queue_messages") == 0 && num(s, "sent") >= 5
	})
	waitMetric(t, g, "mqttgate_uplink_sent_total", `uplink="cloud"`, ">= 5", func(v float64) bool { return v >= 5 })
	waitMetric(t, g, "mqttgate_uplink_connects_total", `uplink="cloud"`, "2", eq(2))
	status2 := new(gatetest.Recorder)
	up.subscribe(up.connect("watch-2", true, status2.Paho), "gw-test/status")
	if _, ok := status2.Within(20*time.Second, func(m gatetest.Message) bool { return m.Payload == "online" }); !ok {
		t.Fatalf("upstream gw-test/status after the link returned: want online, got %v", status2.All())
	}

	// The gateway vanishes: the upstream broker publishes its will.
	g.Kill()
	if _, ok := status2.Within(20*time.Second, func(m gatetest.Message) bool { return m.Payload == "offline" }); !ok {
		t.Fatalf("upstream gw-test/status after SIGKILL: want offline (the will), got %v", status2.All())
	}
}
