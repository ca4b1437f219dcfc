package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mqttgate/configs"
)

func TestExampleConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.yaml")
	if len(files) < 2 {
		t.Fatalf("found %d example configs, want the laptop default and the Raspberry Pi one", len(files))
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
	if _, err := Parse("built-in", configs.Default); err != nil {
		t.Errorf("built-in default: %v", err)
	}
}

func TestBrokenFiles(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // "LINE: substring"
	}{
		{"unknown top-level key", "data_dir: x\nmqtt_addr: 1\n", []string{`2: unknown key "mqtt_addr" in the top level; valid keys there are:`}},
		{"unknown nested key", "mqtt:\n  addr: 127.0.0.1:1883\n  adress: x\n", []string{`3: unknown key "adress" in mqtt`}},
		{"wrong type", "mqtt:\n  allow_anonymous: maybe\n", []string{`2: mqtt.allow_anonymous: "maybe" is a string here, but this key needs true or false`}},
		{"bad duration", "mqtt:\n  sync_interval: soon\n", []string{`2: mqtt.sync_interval: "soon" is a string here, but this key needs a duration`}},
		{"bad number", "auth:\n  max_failures: five\n", []string{`2: auth.max_failures: "five" is a string here, but this key needs a whole number`}},
		{"syntax", "mqtt:\n  addr: [1\n", []string{"fix the YAML syntax"}},
		{"tabs", "mqtt:\n\taddr: x\n", []string{"fix the YAML syntax"}},
		{"bad listener", "mqtt:\n  addr: nonsense\n", []string{`2: mqtt.addr: "nonsense" is not HOST:PORT`}},
		{"bad tls mode", "http:\n  addr: 127.0.0.1:8443\n  tls: maybe\n", []string{`3: http.tls: "maybe" is not a TLS mode; use auto, on or off`}},
		{"insecure remote", "http:\n  addr: 0.0.0.0:8443\n  tls: off\n", []string{`3: http.tls: off on the non-loopback address`}},
		{"bad gateway id", "data_dir: d\ngateway_id: a/b\n", []string{`2: gateway_id: "a/b" has '/'`}},
		{"anonymous role", "mqtt:\n  allow_anonymous: true\n  anonymous_role: nobody\n", []string{`3: mqtt.anonymous_role: "nobody" is not a role`}},
		{"role filter", "roles:\n  ops:\n    read: [\"a/#/b\"]\n", []string{`3: roles.ops.read[0]: "a/#/b" has '#'`}},
		{"builtin role", "roles:\n  admin:\n    read: [\"#\"]\n", []string{`2: roles.admin: is a built-in role`}},
		{"auth range", "auth:\n  iterations: 10\n", []string{`2: auth.iterations: 10 is out of range`}},
		{"log level", "log:\n  level: loud\n", []string{`2: log.level: "loud" is not a level`}},
		{"several at once", "mqtt:\n  addr: x\nlog:\n  format: xml\n", []string{`2: mqtt.addr`, `4: log.format`}},
		{"type errors hide nothing", "mqtt:\n  max_queued: \"5\"\n  addr: x\nauth:\n  max_failures: [1]\nroles: 5\nlog:\n  level: loud\n",
			[]string{`2: mqtt.max_queued: "5" is a string here, but this key needs a whole number`, `3: mqtt.addr: "x" is not HOST:PORT`,
				`5: auth.max_failures: this is a list here, but this key needs a whole number`, `6: roles: "5" is an integer here, but this key needs a mapping of keys to values`,
				`8: log.level: "loud" is not a level`}},
		{"uplink path", "uplinks:\n  - name: up\n    url: tcp://h:1883\n    topics:\n      - {pattern: \"a/#\", direction: out}\n      - pattern: \"b/#\"\n        direction: sideways\n",
			[]string{`7: uplinks[0].topics[1].direction: "sideways" is not a direction`}},
		{"sensor path", "sensors:\n  - {name: a, driver: sim}\n  - name: b\n    driver: bme280\n    address: 0x10\n",
			[]string{`5: sensors[1].address: 0x10 is not a valid bme280 address`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(tc.yaml))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want problems", err)
			}
			got := err.Error()
			for _, w := range tc.want {
				line, sub, _ := strings.Cut(w, ": ")
				if _, err := fmtLine(line); err == nil {
					if !strings.Contains(got, "cfg.yaml:"+line+": "+sub) {
						t.Errorf("missing %q in:\n%s", "cfg.yaml:"+line+": "+sub, got)
					}
					continue
				}
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}

func fmtLine(s string) (int, error) {
	var n int
	_, err := fmt.Sscan(s, &n)
	return n, err
}

func TestEmptyFileIsDefaults(t *testing.T) {
	cfg, err := Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.TCPAddr != "127.0.0.1:1883" || cfg.HTTP.Addr != "127.0.0.1:8443" || cfg.DataDir != "./mqttgate-data" || cfg.HTTP.TLS != "auto" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: cannot read the configuration") {
		t.Errorf("got %v", err)
	}
}

func TestFinishGatewayID(t *testing.T) {
	cfg := Default()
	cfg.Finish()
	if err := checkGatewayID(cfg.GatewayID); err != nil {
		t.Errorf("gateway id from host name: %v", err)
	}
	if got := TopicSafe("my host/+#"); got != "my-host---" {
		t.Errorf("TopicSafe = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"../configs/default.yaml", "../configs/raspberrypi.yaml"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("mqtt:\n  addr: [1\n"))
	f.Add([]byte("roles:\n  a:\n    read: [x]\n  b: *a\n"))
	f.Add([]byte("sensors:\n  - name: x\n    driver: sim\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.yaml", data)
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if ce != nil {
			for _, p := range ce.Problems {
				if p.Msg == "" {
					t.Fatal("empty problem")
				}
			}
		}
	})
}

func TestOverrides(t *testing.T) {
	data := []byte("mqtt:\n  addr: 127.0.0.1:1883\nhttp:\n  tls: off\n")
	cfg, err := Parse("cfg.yaml", data, Override{Flag: "--http-addr", Path: "http.addr", Value: "127.0.0.1:9443"}, Override{Flag: "--data-dir", Path: "data_dir", Value: "/tmp/d"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9443" || cfg.DataDir != "/tmp/d" || cfg.MQTT.TCPAddr != "127.0.0.1:1883" {
		t.Errorf("overrides not applied: http %q data %q mqtt %q", cfg.HTTP.Addr, cfg.DataDir, cfg.MQTT.TCPAddr)
	}
	_, err = Parse("cfg.yaml", nil, Override{Flag: "--mqtt-addr", Path: "mqtt.addr", Value: "nonsense"})
	if err == nil || err.Error() != `cfg.yaml: mqtt.addr: "nonsense" is not HOST:PORT; use e.g. 0.0.0.0:1883 (set by --mqtt-addr)` {
		t.Errorf("bad flag value: %v", err)
	}
}

func TestDefaultsAppliedOnce(t *testing.T) {
	cfg, err := Parse("cfg.yaml", []byte("mqtt:\n  max_queued: 0\nuplinks:\n  - name: up\n    url: tcp://h:1883\n    topics: [{pattern: \"a/#\", direction: out}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.MaxQueued != 128 || cfg.Auth.MaxFailures != 5 || cfg.HTTP.MaxConnections != 256 || cfg.Log.Level != "info" {
		t.Errorf("defaults: %+v %+v %+v %+v", cfg.MQTT, cfg.Auth, cfg.HTTP, cfg.Log)
	}
	if u := cfg.Uplinks[0]; u.ClientID != cfg.GatewayID+"-up" || u.KeepAlive == 0 {
		t.Errorf("uplink defaults: %+v", u)
	}
}
