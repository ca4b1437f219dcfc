package ws

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mqttgate/login"
)

// TestMQTTJS runs MQTT.js under Node against a real Server and Broker over
// wss with the self-signed certificate pinned as CA: two-step chap1 with
// protocolVersion 4 and 5, and in-band chap1 through handleAuth.
// Needs node and web/node_modules/mqtt (`npm ci --prefix web`).
func TestMQTTJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found in PATH: install Node.js (make test installs it) to run the MQTT.js test")
	}
	modules, err := filepath.Abs(filepath.Join("..", "web", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "mqtt", "package.json")); err != nil {
		t.Fatalf("MQTT.js not installed at %s: run `npm ci --prefix web` first (%v)", modules, err)
	}
	g := startGateway(t, login.Config{MaxFailures: 100}, TLSAuto)

	var mu sync.Mutex
	seen := map[string]bool{}
	unsub, err := g.broker.Subscribe("mqttjs/#", func(topic string, _ []byte, _ bool, _ byte) {
		mu.Lock()
		seen[topic] = true
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "mqttjs-chap1.mjs"))
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+modules,
		"MQTTGATE_HTTP_URL="+baseURL(g.srv),
		"MQTTGATE_WS_URL="+wsURL(g.srv),
		"MQTTGATE_CA_FILE="+filepath.Join(g.srv.cfg.DataDir, "tls", "cert.pem"),
		"MQTTGATE_USER="+testUser,
		"MQTTGATE_PASSWORD="+testPassword,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatalf("MQTT.js client failed: %v", err)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatal("MQTT.js client did not report PASS")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, topic := range []string{"mqttjs/two-step-v4", "mqttjs/two-step-v5", "mqttjs/in-band-v5"} {
		if !seen[topic] {
			t.Errorf("the broker never saw MQTT.js publish to %s (saw %v)", topic, seen)
		}
	}
}
