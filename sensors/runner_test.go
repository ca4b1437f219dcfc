package sensors

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mqttgate/hw"
)

func has(keys ...string) func(string) bool {
	return func(p string) bool {
		var m map[string]any
		if json.Unmarshal([]byte(p), &m) != nil {
			return false
		}
		if ts, _ := m["ts"].(string); !strings.HasSuffix(ts, "Z") || len(ts) != len("2026-11-23T10:00:00.123Z") {
			return false
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				return false
			}
		}
		return true
	}
}

func is(s string) func(string) bool { return func(p string) bool { return p == s } }

// stateIs matches an actuator state payload with "state":v.
func stateIs(v string) func(string) bool {
	return func(p string) bool { return has("state")(p) && strings.Contains(p, `"state":"`+v+`"`) }
}

// runSensors runs s until the test ends; stop cancels Run, waits for it
// and returns its error (the same on later calls).
func runSensors(t *testing.T, s *Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestSensorsEndToEnd(t *testing.T) {
	b := newTestBroker(t)
	w := newWatcher(t, b.addr, "gw/#")
	zone := t.TempDir()
	if err := os.WriteFile(filepath.Join(zone, "temp"), []byte("48312\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sensor := func(name, driver, path string) SensorConfig {
		return SensorConfig{SensorConfig: hw.SensorConfig{Name: name, Driver: driver, Path: path}, Interval: 200 * time.Millisecond, FailuresBeforeOffline: 2}
	}
	cfg := Config{
		Sensors: []SensorConfig{sensor("host", "system", ""), sensor("demo", "sim", ""), sensor("cpu", "soc-temp", zone)},
		Actuators: []ActuatorConfig{
			{hw.ActuatorConfig{Name: "lamp", Driver: "sim", Initial: "off", OnShutdown: "off"}},
		},
	}
	s, err := New(cfg, nil, b, "gw", &hw.Opener{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSensors(t, s)

	w.waitFor(t, 0, "gw/status", is("online"))
	w.waitFor(t, 0, "gw/sensors/host/state", has("cpu_load", "mem_available_bytes", "mem_used_pct", "disk_free_bytes", "disk_free_pct", "uptime_s"))
	w.waitFor(t, 0, "gw/sensors/demo/state", has("temperature_c", "reads_count"))
	w.waitFor(t, 0, "gw/sensors/cpu/state", func(p string) bool { return has("temperature_c")(p) && strings.Contains(p, `"temperature_c":48.31`) })
	for _, n := range []string{"host", "demo", "cpu"} {
		w.waitFor(t, 0, "gw/sensors/"+n+"/availability", is("online"))
	}
	i, _ := w.waitFor(t, 0, "gw/actuators/lamp/state", has("state"))

	// The zone disappears: cpu goes offline, the others keep publishing.
	if err := os.Remove(filepath.Join(zone, "temp")); err != nil {
		t.Fatal(err)
	}
	off, _ := w.waitFor(t, 0, "gw/sensors/cpu/availability", is("offline"))
	w.waitFor(t, off, "gw/sensors/demo/state", has("reads_count"))
	w.waitFor(t, off, "gw/sensors/host/state", has("cpu_load"))
	if st := s.Stats()["cpu"]; st.Errors < 2 || st.Online {
		t.Errorf("cpu stats %+v, want >= 2 errors and offline", st)
	}

	// Commands.
	w.publish(t, "gw/actuators/lamp/set", "on")
	i, _ = w.waitFor(t, i+1, "gw/actuators/lamp/state", stateIs("on"))
	w.publish(t, "gw/actuators/lamp/set", "TOGGLE")
	i, _ = w.waitFor(t, i+1, "gw/actuators/lamp/state", stateIs("off"))
	w.publish(t, "gw/actuators/lamp/set", `{"state":"on"}`)
	i, _ = w.waitFor(t, i+1, "gw/actuators/lamp/state", stateIs("on"))
	w.publish(t, "gw/actuators/lamp/set", "explode")
	w.publish(t, "gw/actuators/lamp/set", `{"state":42}`)
	w.publish(t, "gw/actuators/lamp/set", "toggle")
	j, p := w.waitFor(t, i+1, "gw/actuators/lamp/state", has("state"))
	if !stateIs("off")(p) {
		t.Fatalf("after invalid commands and a toggle: %s, want off (invalid ones ignored)", p)
	}
	w.publish(t, "gw/actuators/lamp/set", "on")
	i, _ = w.waitFor(t, j+1, "gw/actuators/lamp/state", stateIs("on"))

	// Clean stop: on_shutdown, sensors and gateway offline.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, i+1, "gw/actuators/lamp/state", stateIs("off"))
	w.waitFor(t, 0, "gw/status", is("offline"))
	w.waitFor(t, off+1, "gw/sensors/demo/availability", is("offline"))
}

func TestSensorsDeadband(t *testing.T) {
	b := newTestBroker(t)
	w := newWatcher(t, b.addr, "gw/sensors/demo/state")
	cfg := Config{Sensors: []SensorConfig{{
		SensorConfig: hw.SensorConfig{Name: "demo", Driver: "sim"},
		Interval:     100 * time.Millisecond,
		// Nothing ever moves this far: only the periodic republish.
		Deadband:       map[string]float64{"temperature_c": 100, "reads_count": 1e9},
		RepublishEvery: 3,
	}}}
	s, err := New(cfg, nil, b, "gw", nil)
	if err != nil {
		t.Fatal(err)
	}
	runSensors(t, s)
	w.waitFor(t, 0, "gw/sensors/demo/state", has("reads_count"))
	w.waitFor(t, 0, "gw/sensors/demo/state", func(p string) bool { return strings.Contains(p, `"reads_count":7`) })
	var counts []float64
	for _, p := range w.on("gw/sensors/demo/state") {
		var r struct {
			N float64 `json:"reads_count"`
		}
		_ = json.Unmarshal([]byte(p), &r)
		counts = append(counts, r.N)
	}
	want := []float64{1, 4, 7}
	for k := range want {
		if k >= len(counts) || counts[k] != want[k] {
			t.Fatalf("published reads_count %v, want it to start %v (deadband suppresses 2 of 3)", counts, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	iv := 10 * time.Second
	got := []time.Duration{}
	for f := 1; f <= 8; f++ {
		got = append(got, backoff(iv, f, 3))
	}
	want := []time.Duration{iv, iv, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, MaxBackoff, MaxBackoff}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	if j := jitter(iv, 0); j < 9*time.Second || j > 11*time.Second {
		t.Fatalf("jitter %v", j)
	}
}

func TestConfigValidateKeys(t *testing.T) {
	cfg := Config{Sensors: []SensorConfig{
		{SensorConfig: hw.SensorConfig{Name: "a", Driver: "sim"}},
		{SensorConfig: hw.SensorConfig{Name: "a", Driver: "bme280", Address: 0x10}, Interval: time.Millisecond},
	}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"sensors[1].address: ", "sensors[1].interval: ", "sensors[1].name: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		in      string
		cur     hw.State
		want    hw.State
		wantErr bool
	}{
		{"on", hw.Off, hw.On, false}, {" OFF\n", hw.On, hw.Off, false}, {"toggle", hw.On, hw.Off, false},
		{`{"state":"on"}`, hw.Off, hw.On, false}, {`{"state":true}`, hw.Off, hw.On, false},
		{`{"state":"toggle"}`, hw.Off, hw.On, false}, {`{"state":42}`, hw.Off, hw.Off, true},
		{`{"on":1}`, hw.Off, hw.Off, true}, {"{", hw.On, hw.On, true}, {"", hw.On, hw.On, true}, {"maybe", hw.Off, hw.Off, true},
	}
	for _, c := range cases {
		got, err := ParseCommand([]byte(c.in), c.cur)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("ParseCommand(%q, %s) = %s, %v", c.in, c.cur, got, err)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"on", "off", "toggle", `{"state":"on"}`, `{"state":false}`, `{"state":null}`, "{}", "\x00", strings.Repeat("o", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, cur := range []hw.State{hw.Off, hw.On} {
			got, err := ParseCommand(p, cur)
			if err != nil && got != cur {
				t.Fatalf("%q: error %v but state changed", p, err)
			}
		}
	})
}

func TestHomeAssistantDiscovery(t *testing.T) {
	b := newTestBroker(t)
	w := newWatcher(t, b.addr, "homeassistant/#")
	cfg := Config{
		Sensors:       []SensorConfig{{SensorConfig: hw.SensorConfig{Name: "demo", Driver: "sim"}, Interval: 100 * time.Millisecond}},
		Actuators:     []ActuatorConfig{{hw.ActuatorConfig{Name: "lamp", Driver: "sim"}}},
		HomeAssistant: HomeAssistantConfig{Enabled: true},
	}
	s, err := New(cfg, nil, b, "gw", nil)
	if err != nil {
		t.Fatal(err)
	}
	runSensors(t, s)
	_, p := w.waitFor(t, 0, "homeassistant/sensor/gw_demo_temperature_c/config", func(string) bool { return true })
	var c map[string]any
	if err := json.Unmarshal([]byte(p), &c); err != nil {
		t.Fatal(err)
	}
	if c["unit_of_measurement"] != "°C" || c["device_class"] != "temperature" || c["state_topic"] != "gw/sensors/demo/state" || c["value_template"] != "{{ value_json.temperature_c }}" {
		t.Errorf("sensor discovery %s", p)
	}
	if a, _ := c["availability"].([]any); len(a) != 2 {
		t.Errorf("availability %v, want gateway status and sensor availability", c["availability"])
	}
	_, p = w.waitFor(t, 0, "homeassistant/switch/gw_lamp/config", func(string) bool { return true })
	if !strings.Contains(p, `"command_topic":"gw/actuators/lamp/set"`) || !strings.Contains(p, `"state_topic":"gw/actuators/lamp/state"`) {
		t.Errorf("switch discovery %s", p)
	}
}

func TestSensorsReload(t *testing.T) {
	b := newTestBroker(t)
	w := newWatcher(t, b.addr, "gw/#")
	sim := func(name string) SensorConfig {
		return SensorConfig{SensorConfig: hw.SensorConfig{Name: name, Driver: "sim"}, Interval: 100 * time.Millisecond}
	}
	lamp := ActuatorConfig{hw.ActuatorConfig{Name: "lamp", Driver: "sim", Initial: "off"}}
	s, err := New(Config{Sensors: []SensorConfig{sim("first")}}, nil, b, "gw", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A reload before Run replaces the configuration Run starts with.
	if err := s.Reload(Config{Sensors: []SensorConfig{sim("demo")}, Actuators: []ActuatorConfig{lamp}}); err != nil {
		t.Fatal(err)
	}
	runSensors(t, s)
	w.waitFor(t, 0, "gw/sensors/demo/state", has("reads_count"))
	w.waitFor(t, 0, "gw/actuators/lamp/state", stateIs("off"))
	w.publish(t, "gw/actuators/lamp/set", "on")
	i, _ := w.waitFor(t, 0, "gw/actuators/lamp/state", stateIs("on"))

	// An invalid configuration is refused; the running one goes on.
	bad := Config{Sensors: []SensorConfig{sim("demo"), {SensorConfig: hw.SensorConfig{Name: "x", Driver: "nope"}}}}
	if err := s.Reload(bad); err == nil || !strings.Contains(err.Error(), "sensors[1].driver: ") {
		t.Fatalf("Reload of an invalid config: %v, want an error naming sensors[1].driver", err)
	}
	j, _ := w.waitFor(t, i+1, "gw/sensors/demo/state", has("reads_count"))

	// demo replaced by extra; the lamp keeps its state (initial off is
	// not applied again).
	if err := s.Reload(Config{Sensors: []SensorConfig{sim("extra")}, Actuators: []ActuatorConfig{lamp}}); err != nil {
		t.Fatal(err)
	}
	off, _ := w.waitFor(t, j+1, "gw/sensors/demo/availability", is("offline"))
	w.waitFor(t, off, "gw/sensors/extra/state", has("temperature_c", "reads_count"))
	w.waitFor(t, off, "gw/sensors/extra/availability", is("online"))
	k, p := w.waitFor(t, i+1, "gw/actuators/lamp/state", has("state"))
	if !stateIs("on")(p) {
		t.Errorf("lamp state after the reload: %s, want on (kept)", p)
	}
	w.publish(t, "gw/actuators/lamp/set", "toggle")
	w.waitFor(t, k+1, "gw/actuators/lamp/state", stateIs("off"))
	if st := s.Stats(); len(st) != 1 || st["extra"].Reads == 0 {
		t.Errorf("stats after the reload: %+v, want only extra, with reads", st)
	}
}

// FuzzAppendReading checks that every reading becomes valid JSON with an
// RFC 3339 "ts" and the finite values unchanged.
func FuzzAppendReading(f *testing.F) {
	f.Add(21.43, 40.2, int64(1795428000123))
	f.Add(math.NaN(), math.Inf(1), int64(0))
	f.Add(-1e300, 5e-324, int64(-62135596800000))
	f.Fuzz(func(t *testing.T, a, b float64, ms int64) {
		r := hw.Reading{Time: time.UnixMilli(ms), Values: []hw.Quantity{{Name: "temperature", Unit: "c", Value: a}, {Name: "humidity", Unit: "pct", Value: b}}}
		out := appendReading(nil, r)
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if ts, ok := m["ts"].(string); !ok || len(ts) < len("2006-01-02T15:04:05.000Z") {
			t.Fatalf("ts in %s", out)
		}
		if y := r.Time.UTC().Year(); y >= 0 && y <= 9999 {
			if _, err := time.Parse(time.RFC3339Nano, m["ts"].(string)); err != nil {
				t.Fatalf("ts in %s: %v", out, err)
			}
		}
		for k, v := range map[string]float64{"temperature_c": a, "humidity_pct": b} {
			got, present := m[k]
			if finite := !math.IsNaN(v) && !math.IsInf(v, 0); finite != present || finite && got.(float64) != v {
				t.Fatalf("%s: %s = %v, want %v", out, k, got, v)
			}
		}
	})
}
