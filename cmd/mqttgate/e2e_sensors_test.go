package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/configs"
	"mqttgate/gatetest"
)

// End-to-end tests of the sensors and actuators in the running binary:
// what a subscriber sees on <gw>/status, <gw>/sensors/# and
// <gw>/actuators/#. Every wait polls with a generous deadline.

const e2eWait = 20 * time.Second

// quantityKey is the form of a reading's keys besides "ts":
// <quantity>_<unit>, lower case.
var quantityKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*_[a-z]+$`)

// checkReading reports what is wrong with a sensor state payload: it must be
// a JSON object with "ts" in RFC 3339 and numbers under <quantity>_<unit>
// keys, including want.
func checkReading(payload string, want ...string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return fmt.Errorf("not a JSON object: %v: %s", err, payload)
	}
	ts, _ := m["ts"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf(`"ts" is not RFC 3339: %s`, payload)
	}
	for k, v := range m {
		if k == "ts" {
			continue
		}
		if !quantityKey.MatchString(k) {
			return fmt.Errorf("key %q is not <quantity>_<unit>: %s", k, payload)
		}
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%q is not a number: %s", k, payload)
		}
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%q missing: %s", k, payload)
		}
	}
	if len(m) < 2 {
		return fmt.Errorf("no values: %s", payload)
	}
	return nil
}

func reading(topic string, keys ...string) func(gatetest.Message) bool {
	return func(m gatetest.Message) bool { return m.Topic == topic && checkReading(m.Payload, keys...) == nil }
}

func payloadIs(topic, payload string) func(gatetest.Message) bool {
	return func(m gatetest.Message) bool { return m.Topic == topic && m.Payload == payload }
}

func actuatorIs(topic, state string) func(gatetest.Message) bool {
	return func(m gatetest.Message) bool {
		var v struct {
			State string `json:"state"`
			TS    string `json:"ts"`
		}
		if m.Topic != topic || json.Unmarshal([]byte(m.Payload), &v) != nil {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, v.TS)
		return v.State == state && err == nil
	}
}

// waitAfter waits for a message at index from or later that satisfies ok
// and returns its index; it fails the test after gatetest.WaitTimeout.
func waitAfter(t *testing.T, b *gatetest.Recorder, from int, what string, ok func(gatetest.Message) bool) int {
	t.Helper()
	i, _ := b.WaitFor(t, from, what, ok)
	return i
}

func mark(b *gatetest.Recorder) int { return len(b.All()) }

// writeFile replaces path atomically, so the gateway never reads half a file.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestSensorsDefaultConfig runs the built-in default configuration (with a
// fixed gateway id): a subscriber gets every configured sensor's state and
// availability, the actuator's state and <gw>/status online, retained; a
// clean stop leaves <gw>/status and the sensors offline and applies the
// actuator's on_shutdown state.
func TestSensorsDefaultConfig(t *testing.T) {
	yaml := "gateway_id: gw-test\nauth:\n  iterations: 4096\n" + string(configs.Default)
	g := gatetest.Start(t, gatetest.Options{YAML: yaml})
	pw := g.AdminPassword()
	b := new(gatetest.Recorder)
	// A persistent session at QoS 1: what the gateway publishes while it
	// stops reaches this subscriber, now or when it reconnects.
	c, err := dialV3(g, "admin", pw, "status-watch", false, func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(b.Paho)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Disconnect(50) }()
	subscribe(t, c, "gw-test/#", 1, b)

	i := waitAfter(t, b, 0, "retained status online", payloadIs("gw-test/status", "online"))
	if !b.All()[i].Retain {
		t.Error("gw-test/status online is not retained")
	}
	system := []string{"cpu_load", "mem_available_bytes", "mem_used_pct", "disk_free_bytes", "disk_free_pct", "uptime_s"}
	waitAfter(t, b, 0, "system sensor state", reading("gw-test/sensors/system/state", system...))
	first := waitAfter(t, b, 0, "demo sensor state", reading("gw-test/sensors/demo/state", "temperature_c", "reads_count"))
	for _, s := range []string{"system", "demo"} {
		waitAfter(t, b, 0, s+" availability online", payloadIs("gw-test/sensors/"+s+"/availability", "online"))
	}
	// Live data: the sim sensor publishes a different reading soon after.
	waitAfter(t, b, first+1, "a new demo reading", func(m gatetest.Message) bool {
		return reading("gw-test/sensors/demo/state", "reads_count")(m) && m.Payload != b.All()[first].Payload
	})
	waitAfter(t, b, 0, "lamp state off", actuatorIs("gw-test/actuators/lamp/state", "off"))
	publish(t, c, "gw-test/actuators/lamp/set", 1, false, "on")
	waitAfter(t, b, 0, "lamp state on", actuatorIs("gw-test/actuators/lamp/state", "on"))

	// Clean stop.
	stopAt := mark(b)
	if err := g.Stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	offline := payloadIs("gw-test/status", "offline")
	if _, ok := b.Within(2*time.Second, func(m gatetest.Message) bool { return m.Topic == "gw-test/status" && m.Payload == "offline" }); !ok {
		// Not delivered before the connection closed: it waits in the
		// persistent session, and comes first when the gateway is back.
		t.Log("status offline not delivered during the stop; reconnecting the persistent session")
		g.StartAgain()
		c, err = dialV3(g, "admin", pw, "status-watch", false, func(o *paho.ClientOptions) {
			o.SetDefaultPublishHandler(b.Paho)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	off := waitAfter(t, b, stopAt, "status offline after a clean stop", offline)
	for _, s := range []string{"system", "demo"} {
		if j := waitAfter(t, b, stopAt, s+" availability offline", payloadIs("gw-test/sensors/"+s+"/availability", "offline")); j > off {
			t.Errorf("sensor %s went offline after the gateway's status", s)
		}
	}
	waitAfter(t, b, stopAt, "lamp on_shutdown off", actuatorIs("gw-test/actuators/lamp/state", "off"))
}

const actuatorYAML = gatetest.BaseYAML + `
actuators:
  - name: lamp
    driver: sim
    initial: "off"
`

// TestActuatorCommands: an operator's set and toggle change the sim
// actuator's state; a viewer's set is refused (PUBACK 0x87 with MQTT 5)
// and never reaches the actuator.
func TestActuatorCommands(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{YAML: actuatorYAML})
	g.AddUser("op", "operator", "op-pw")
	g.AddUser("view", "viewer", "view-pw")
	b := new(gatetest.Recorder)
	admin := connectV3(t, g, "admin", g.AdminPassword(), "watch", true)
	subscribe(t, admin, "gw-test/actuators/#", 1, b)
	const state, set = "gw-test/actuators/lamp/state", "gw-test/actuators/lamp/set"
	waitAfter(t, b, 0, "lamp state off", actuatorIs(state, "off"))

	op := connectV3(t, g, "op", "op-pw", "op-1", true)
	i := mark(b)
	publish(t, op, set, 1, false, "on")
	i = waitAfter(t, b, i, "lamp on after the operator's set", actuatorIs(state, "on"))
	publish(t, op, set, 1, false, "toggle")
	i = waitAfter(t, b, i+1, "lamp off after the operator's toggle", actuatorIs(state, "off"))
	publish(t, op, set, 1, false, `{"state":"on"}`)
	i = waitAfter(t, b, i+1, "lamp on after the operator's JSON set", actuatorIs(state, "on"))
	publish(t, op, set, 1, false, "off")
	i = waitAfter(t, b, i+1, "lamp off", actuatorIs(state, "off"))

	// The viewer tries to switch it on, with MQTT 3.1.1 and 5.
	view := connectV3(t, g, "view", "view-pw", "view-3", true)
	// "ON" (accepted by the actuator) marks the viewer's commands.
	publish(t, view, set, 1, false, "ON") // acknowledged and dropped (3.1.1 has no refusal)
	v5, _, err := connectV5(t, g, "view", "view-pw", "view-5", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := v5.Publish(ctx, &paho5.Publish{Topic: set, QoS: 1, Payload: []byte("ON")})
	if pr == nil || pr.ReasonCode != 0x87 {
		t.Errorf("MQTT 5 viewer set: PUBACK %+v, %v; want reason 0x87 (not authorized)", pr, err)
	}
	// The operator toggles: off -> on. Had a viewer's "ON" got through,
	// the watcher would see it on the set topic before the toggle (the
	// broker handled it first), and the toggle would turn the lamp off.
	publish(t, op, set, 1, false, "toggle")
	j := waitAfter(t, b, i+1, "the operator's toggle on the set topic", payloadIs(set, "toggle"))
	for _, m := range b.All()[:j] {
		if m.Topic == set && m.Payload == "ON" {
			t.Errorf("a viewer's command reached the actuator: %+v", m)
		}
	}
	k := waitAfter(t, b, i+1, "lamp state after the toggle", func(m gatetest.Message) bool { return m.Topic == state })
	if !actuatorIs(state, "on")(b.All()[k]) {
		t.Errorf("lamp state after the viewer's refused set and a toggle: %s, want on", b.All()[k].Payload)
	}

	// Invalid commands are logged and ignored; the actuator still works.
	publish(t, op, set, 1, false, "explode")
	publish(t, op, set, 1, false, "off")
	waitAfter(t, b, k+1, "lamp off after an invalid command", actuatorIs(state, "off"))
	if !g.WaitLog("invalid command ignored", e2eWait) {
		t.Error("an invalid command is not logged")
	}
}

// TestSensorFailingGoesOffline: a soc-temp sensor whose thermal zone file
// disappears goes offline after failures_before_offline failed reads while
// the other sensor keeps publishing, and comes back when the file does.
func TestSensorFailingGoesOffline(t *testing.T) {
	zone := t.TempDir()
	temp := filepath.Join(zone, "temp")
	writeFile(t, temp, "48312\n")
	yaml := gatetest.BaseYAML + fmt.Sprintf(`
sensors:
  - name: cpu
    driver: soc-temp
    path: %q
    interval: 200ms
    failures_before_offline: 2
  - name: demo
    driver: sim
    interval: 200ms
`, zone)
	g := gatetest.Start(t, gatetest.Options{YAML: yaml})
	b := new(gatetest.Recorder)
	c := connectV3(t, g, "admin", g.AdminPassword(), "watch", true)
	subscribe(t, c, "gw-test/sensors/#", 1, b)
	waitAfter(t, b, 0, "cpu reading 48.31", func(m gatetest.Message) bool {
		return reading("gw-test/sensors/cpu/state", "temperature_c")(m) && strings.Contains(m.Payload, `"temperature_c":48.31`)
	})
	waitAfter(t, b, 0, "cpu online", payloadIs("gw-test/sensors/cpu/availability", "online"))
	waitAfter(t, b, 0, "demo online", payloadIs("gw-test/sensors/demo/availability", "online"))

	i := mark(b)
	if err := os.Remove(temp); err != nil {
		t.Fatal(err)
	}
	off := waitAfter(t, b, i, "cpu offline", payloadIs("gw-test/sensors/cpu/availability", "offline"))
	demo := reading("gw-test/sensors/demo/state", "reads_count")
	n := waitAfter(t, b, off+1, "a demo reading after cpu went offline", demo)
	waitAfter(t, b, n+1, "a second demo reading after cpu went offline", demo)
	for _, m := range b.All()[off:] {
		if m.Topic == "gw-test/sensors/demo/availability" {
			t.Errorf("demo's availability changed while cpu failed: %s", m.Payload)
		}
	}
	if log := g.Log(); !strings.Contains(log, "sensor=cpu") || !strings.Contains(log, "sensor read failed") {
		t.Error("the log does not say which sensor failed")
	}

	// The zone comes back: the sensor recovers on its own.
	writeFile(t, temp, "51000\n")
	waitAfter(t, b, off+1, "cpu online again", payloadIs("gw-test/sensors/cpu/availability", "online"))
	waitAfter(t, b, off+1, "cpu reading 51", func(m gatetest.Message) bool {
		return reading("gw-test/sensors/cpu/state")(m) && strings.Contains(m.Payload, `"temperature_c":51`)
	})
}

const reloadYAML = gatetest.BaseYAML + `
sensors:
  - name: demo
    driver: sim
    interval: 300ms
`

// TestSensorsReload: SIGHUP applies a config with one more sensor without
// dropping connected clients; a config with a syntax error is refused,
// said so in the log, and the running sensors go on.
func TestSensorsReload(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{YAML: reloadYAML})
	b := new(gatetest.Recorder)
	var lost atomic.Int64
	c, err := dialV3(g, "admin", g.AdminPassword(), "watch", true, func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(paho.Client, error) { lost.Add(1) })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(50)
	subscribe(t, c, "gw-test/sensors/#", 1, b)
	v5b := new(gatetest.Recorder)
	v5, _, err := connectV5(t, g, "admin", g.AdminPassword(), "watch-5", v5b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := v5.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "gw-test/sensors/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitAfter(t, b, 0, "demo reading", reading("gw-test/sensors/demo/state", "temperature_c"))

	writeFile(t, g.Config, reloadYAML+`
  - name: extra
    driver: sim
    interval: 300ms
`)
	g.Signal(syscall.SIGHUP)
	i := waitAfter(t, b, 0, "the new sensor's reading", reading("gw-test/sensors/extra/state", "temperature_c", "reads_count"))
	waitAfter(t, b, 0, "the new sensor online", payloadIs("gw-test/sensors/extra/availability", "online"))
	waitAfter(t, b, i, "demo reading after the reload", reading("gw-test/sensors/demo/state"))
	waitAfter(t, v5b, 0, "the new sensor's reading (MQTT 5 client)", reading("gw-test/sensors/extra/state"))
	if !g.WaitLog(`msg=reloaded`, e2eWait) {
		t.Error("the reload is not logged")
	}

	// A broken file: refused, the running sensors are kept.
	writeFile(t, g.Config, reloadYAML+"  - name: broken\n   driver: [sim\n")
	g.Signal(syscall.SIGHUP)
	if !g.WaitLog("reload refused", e2eWait) {
		t.Fatal("a config with a syntax error: no 'reload refused' in the log")
	}
	if !strings.Contains(g.Log(), "config.yaml:") {
		t.Error("the refusal does not name the file and line")
	}
	j := mark(b)
	for _, s := range []string{"demo", "extra"} {
		waitAfter(t, b, j, s+" reading after the refused reload", reading("gw-test/sensors/"+s+"/state"))
	}
	for _, m := range b.All()[j:] {
		if strings.HasSuffix(m.Topic, "/availability") && m.Payload == "offline" || strings.Contains(m.Topic, "/broken/") {
			t.Errorf("after the refused reload: %s %s", m.Topic, m.Payload)
		}
	}
	if n := lost.Load(); n != 0 || !c.IsConnectionOpen() {
		t.Errorf("the MQTT 3.1.1 client was dropped by the reloads (%d times)", n)
	}
	// The MQTT 5 client is still connected: it still receives readings.
	waitAfter(t, v5b, mark(v5b), "a reading on the MQTT 5 client after both reloads", reading("gw-test/sensors/extra/state"))
}

// TestHomeAssistantDiscovery: with home_assistant enabled, retained
// discovery configs appear for the sim sensor's quantities and the
// actuator.
func TestHomeAssistantDiscovery(t *testing.T) {
	yaml := gatetest.BaseYAML + `
sensors:
  - name: demo
    driver: sim
    interval: 300ms
actuators:
  - name: lamp
    driver: sim
home_assistant:
  enabled: true
`
	g := gatetest.Start(t, gatetest.Options{YAML: yaml})
	pw := g.AdminPassword()
	b := new(gatetest.Recorder)
	c := connectV3(t, g, "admin", pw, "ha-1", true)
	subscribe(t, c, "homeassistant/#", 1, b)
	const sensorTopic = "homeassistant/sensor/gw-test_demo_temperature_c/config"
	const switchTopic = "homeassistant/switch/gw-test_lamp/config"
	waitAfter(t, b, 0, "sensor discovery", topicIs(sensorTopic))
	waitAfter(t, b, 0, "switch discovery", topicIs(switchTopic))

	// A client that connects later (Home Assistant restarting) gets them
	// as retained messages.
	late := new(gatetest.Recorder)
	c2 := connectV3(t, g, "admin", pw, "ha-2", true)
	subscribe(t, c2, "homeassistant/#", 1, late)
	waitAfter(t, late, 0, "reads_count discovery", topicIs("homeassistant/sensor/gw-test_demo_reads_count/config"))
	get := func(topic string) map[string]any {
		i := waitAfter(t, late, 0, topic, topicIs(topic))
		m := late.All()[i]
		if !m.Retain {
			t.Errorf("%s is not retained", topic)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(m.Payload), &v); err != nil {
			t.Fatalf("%s: %v: %s", topic, err, m.Payload)
		}
		return v
	}
	s := get(sensorTopic)
	want := map[string]any{
		"state_topic": "gw-test/sensors/demo/state", "value_template": "{{ value_json.temperature_c }}",
		"unit_of_measurement": "°C", "device_class": "temperature", "unique_id": "gw-test_demo_temperature_c",
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("sensor discovery %s = %v, want %v", k, s[k], v)
		}
	}
	if a, _ := s["availability"].([]any); len(a) != 2 {
		t.Errorf("sensor availability %v, want the gateway status and the sensor's availability", s["availability"])
	}
	sw := get(switchTopic)
	want = map[string]any{
		"state_topic": "gw-test/actuators/lamp/state", "command_topic": "gw-test/actuators/lamp/set",
		"payload_on": "on", "payload_off": "off", "unique_id": "gw-test_lamp",
	}
	for k, v := range want {
		if sw[k] != v {
			t.Errorf("switch discovery %s = %v, want %v", k, sw[k], v)
		}
	}
}
