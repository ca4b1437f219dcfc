package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// TestGatewayIDOneRule: `config check` and `run` judge a gateway id by the
// same rule (topics.CheckName). gw.1 is a valid topic level: both accept
// it and the gateway publishes under it. $gw is not (topics starting with
// '$' are the broker's): both refuse it with the same line.
func TestGatewayIDOneRule(t *testing.T) {
	bin := gatetest.Binary(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	goodYAML := strings.Replace(gatetest.BaseYAML, "gateway_id: gw-test", "gateway_id: gw.1", 1)
	if err := os.WriteFile(good, []byte(goodYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "config", "check", "-c", good).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("config check with gateway_id gw.1: %v\n%s", err, out)
	}
	g := gatetest.Start(t, gatetest.Options{YAML: goodYAML})
	c := connectV3(t, g, "admin", g.AdminPassword(), "names-1", true)
	got := make(chan string, 1)
	tok := c.Subscribe("gw.1/status", 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case s := <-got:
		if s != "online" {
			t.Errorf("gw.1/status = %q, want online", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no retained gw.1/status")
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("gateway_id: $gw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `gateway_id: "$gw" starts with '$'`
	check, err := exec.Command(bin, "config", "check", "-c", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(check), bad+":1: "+want) {
		t.Fatalf("config check with gateway_id $gw: %v\n%s", err, check)
	}
	// run refuses the configuration before it opens any socket.
	run := exec.Command(bin, "run", "-c", bad, "--data-dir", filepath.Join(dir, "data"))
	out, err := run.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("run with gateway_id $gw: %v\n%s", err, out)
	}
}
