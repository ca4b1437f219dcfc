package hw

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSensorConfigYAMLAndValidate(t *testing.T) {
	var cfgs []SensorConfig
	src := `
- {name: env, driver: bme280, bus: "1", address: 0x77}
- {name: tank, driver: ds18b20, rom: 28-0000070e41ac}
- {name: door, driver: gpio-in, pin: GPIO17, pull: up, edge: both, debounce: 30ms}
- {name: cpu, driver: soc-temp}
- {name: host, driver: system}
- {name: demo, driver: sim}
`
	if err := yaml.Unmarshal([]byte(src), &cfgs); err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	if cfgs[0].Address != 0x77 {
		t.Errorf("address = %#x", cfgs[0].Address)
	}
}

func TestValidateErrorsStartWithKey(t *testing.T) {
	cases := []struct {
		cfg  SensorConfig
		keys []string
	}{
		{SensorConfig{Name: "bad name", Driver: "bme280", Address: 0x40}, []string{"name: ", "address: "}},
		{SensorConfig{Name: "x", Driver: "dht22"}, []string{"driver: "}},
		{SensorConfig{Name: "x"}, []string{"driver: "}},
		{SensorConfig{Name: "x", Driver: "ds18b20"}, []string{"rom: "}},
		{SensorConfig{Name: "x", Driver: "gpio-in", Pull: "sideways", Edge: "up", Debounce: -1}, []string{"pin: ", "pull: ", "edge: ", "debounce: "}},
		{SensorConfig{Name: "x", Driver: "sim", Pin: "GPIO4", Address: 0x76}, []string{"address: ", "pin: "}},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c.cfg)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(c.keys) {
			t.Errorf("%+v: %d errors %q, want %d", c.cfg, len(lines), lines, len(c.keys))
			continue
		}
		for i, k := range c.keys {
			if !strings.HasPrefix(lines[i], k) {
				t.Errorf("error %q does not start with %q", lines[i], k)
			}
		}
	}
	a := ActuatorConfig{Name: "r", Driver: "gpio-out", Initial: "maybe", OnShutdown: "later"}
	err := a.Validate()
	if err == nil || !strings.Contains(err.Error(), "pin: ") || !strings.Contains(err.Error(), "initial: ") || !strings.Contains(err.Error(), "on_shutdown: ") {
		t.Fatalf("actuator err = %v", err)
	}
}

func FuzzParseROM(f *testing.F) {
	for _, s := range []string{"28-0000070e41ac", "0x740000070e41ac28", "", "-", "28-", "0x", "zz-000000000000", "28-0000070e41ac-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseROM(s)
		if err != nil {
			return
		}
		// Whatever parses round-trips through the hex form.
		b, err := ParseROM(fmt.Sprintf("%#016x", uint64(a)))
		if err != nil || a != b {
			t.Fatalf("%q -> %#x does not round-trip: %v", s, uint64(a), err)
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"on", "OFF", " true ", "0", "high", "", "toggle"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if again, err := ParseState(st.String()); err != nil || again != st {
			t.Fatalf("%q -> %s does not round-trip", s, st)
		}
	})
}

func ExampleOpener_OpenSensor() {
	o := &Opener{ProcRoot: "testdata/proc", DataDir: os.TempDir()}
	s, err := o.OpenSensor(SensorConfig{Name: "demo", Driver: DriverSim})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, _ := s.Read(context.Background())
	for _, q := range r.Values {
		fmt.Println(q.Key(), q.Value)
	}
	// Output:
	// temperature_c 21.62
	// reads_count 1
}

// TestNamesFollowTheOneRule: sensor and actuator names are topic levels
// checked by topics.CheckName, as gateway ids and user names are.
func TestNamesFollowTheOneRule(t *testing.T) {
	for name, ok := range map[string]bool{"env": true, "env.1": true, "küche": true, "a/b": false, "a+": false, "$x": false, "": false} {
		s := SensorConfig{Name: name, Driver: DriverSim}
		a := ActuatorConfig{Name: name, Driver: DriverSim}
		if (s.Validate() == nil) != ok || (a.Validate() == nil) != ok {
			t.Errorf("name %q: sensor %v, actuator %v; want valid %v", name, s.Validate(), a.Validate(), ok)
		}
	}
}
