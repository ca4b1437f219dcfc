package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqttgate/gatetest"
)

// refusedByRun are configurations that `mqttgate run` refuses; `config
// check` must refuse each of them with the same FILE:LINE lines. want are
// "LINE: text" parts of the output.
var refusedByRun = []struct {
	name, yaml string
	want       []string
}{
	{"yaml syntax", "mqtt:\n\taddr: x\n", []string{"fix the YAML syntax"}},
	{"unknown key", "mqtt:\n  addr: 127.0.0.1:0\n  adress: x\n", []string{`3: unknown key "adress" in mqtt`}},
	{"bad listener", "mqtt:\n  addr: nonsense\n", []string{`2: mqtt.addr: "nonsense" is not HOST:PORT`}},
	{"type error hides nothing", "mqtt:\n  addr: 127.0.0.1:0\n  max_queued: \"5\"\nauth:\n  block: 2h\n  block_max: 1h\n",
		[]string{`3: mqtt.max_queued: "5" is a string here, but this key needs a whole number`, `6: auth.block_max: 1h0m0s is shorter than block 2h0m0s`}},
	{"mqtt TLS files missing", "mqtt:\n  addr: 127.0.0.1:0\n  tls_addr: 127.0.0.1:0\n  tls_cert: /nonexistent/c.pem\n  tls_key: /nonexistent/k.pem\n",
		[]string{`4: mqtt.tls_cert: cannot load TLS key pair /nonexistent/c.pem, /nonexistent/k.pem`}},
	{"http TLS files missing", "http:\n  addr: 127.0.0.1:0\n  tls: on\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n",
		[]string{`4: http.cert_file: cannot load TLS key pair /nonexistent/c.pem, /nonexistent/k.pem`}},
	{"built-in role", "roles:\n  admin:\n    read: [\"#\"]\n", []string{`2: roles.admin: is a built-in role`}},
	{"role filter", "roles:\n  ops:\n    read: [\"a/#\", \"a/#/b\"]\n", []string{`3: roles.ops.read[1]: "a/#/b"`}},
	{"anonymous role", "mqtt:\n  allow_anonymous: true\n  anonymous_role: nobody\n", []string{`3: mqtt.anonymous_role: "nobody" is not a role`}},
	{"plain HTTP off loopback", "http:\n  addr: 0.0.0.0:0\n  tls: off\n", []string{`3: http.tls: off on the non-loopback address`}},
	{"http limits", "http:\n  addr: 127.0.0.1:0\n  max_connections: -1\n", []string{`3: http.max_connections: -1 must be at least 1`}},
	{"auth iterations", "auth:\n  iterations: 10\n", []string{`2: auth.iterations: 10 is out of range`}},
	{"gateway id", "gateway_id: a/b\n", []string{`1: gateway_id: "a/b" has '/'`}},
	{"profiler on the network", "debug:\n  pprof_addr: 0.0.0.0:6060\n", []string{`2: debug.pprof_addr: "0.0.0.0:6060" is not a loopback HOST:PORT`}},
	{"log level", "log:\n  level: loud\n", []string{`2: log.level: "loud" is not a level`}},
	{"sensor", "sensors:\n  - {name: a, driver: sim}\n  - name: b\n    driver: bme280\n    address: 0x10\n",
		[]string{`5: sensors[1].address: 0x10 is not a valid bme280 address`}},
	{"uplink rule", "uplinks:\n  - name: up\n    url: tcp://127.0.0.1:1\n    topics:\n      - {pattern: \"a/#\", direction: out}\n      - pattern: \"b/#\"\n        direction: sideways\n",
		[]string{`7: uplinks[0].topics[1].direction: "sideways" is not a direction`}},
	{"uplink CA file missing", "uplinks:\n  - name: up\n    url: ssl://127.0.0.1:1\n    ca_file: /nonexistent/ca.pem\n    topics: [{pattern: \"a/#\", direction: out}]\n",
		[]string{`4: uplinks[0].ca_file: open /nonexistent/ca.pem: no such file or directory`}},
}

// TestConfigCheckRefusesWhatRunRefuses feeds every refusal of run to
// config check: both exit 1 and print the same FILE:LINE lines.
func TestConfigCheckRefusesWhatRunRefuses(t *testing.T) {
	bin := gatetest.Binary(t)
	for _, tc := range refusedByRun {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "gateway.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			run := refusal(t, bin, "run", "-c", file, "--data-dir", data)
			check := refusal(t, bin, "config", "check", "-c", file, "--data-dir", data)
			if run != check {
				t.Errorf("run printed:\n%s\nconfig check printed:\n%s", run, check)
			}
			for _, w := range tc.want {
				line, text, _ := strings.Cut(w, ": ")
				want := file + ":" + line + ": " + text
				if !strings.HasPrefix(w, "fix") && !strings.Contains(check, want) {
					t.Errorf("missing %q in:\n%s", want, check)
				}
				if strings.HasPrefix(w, "fix") && !strings.Contains(check, w) {
					t.Errorf("missing %q in:\n%s", w, check)
				}
			}
			if _, err := os.Stat(data); err == nil {
				t.Error("a refused configuration created the data dir")
			}
		})
	}
}

// refusal runs the binary and returns what it printed, failing the test
// unless it exits 1.
func refusal(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("%s %s: %v, want exit status 1\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}
