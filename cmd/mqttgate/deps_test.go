package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyGraph guards the package graph of docs/DESIGN.md: mqtt, ws
// and hw are leaves that import none of the others, login is shared by
// mqtt and ws, sensors and uplink reach the broker only through their own
// interfaces and know nothing of each other;
// field (configuration errors) is a leaf every part may import.
func TestDependencyGraph(t *testing.T) {
	forbidden := map[string][]string{
		"mqttgate/login":        {"mqttgate/", "github.com/mochi-mqtt/", "github.com/gorilla/", "github.com/eclipse/", "periph.io/"},
		"mqttgate/hw":           {"mqttgate/", "github.com/mochi-mqtt/", "github.com/gorilla/", "github.com/eclipse/"},
		"mqttgate/mqtt":         {"mqttgate/ws", "mqttgate/hw", "mqttgate/sensors", "mqttgate/uplink", "mqttgate/config", "periph.io/"},
		"mqttgate/ws":           {"mqttgate/mqtt", "mqttgate/hw", "mqttgate/sensors", "mqttgate/uplink", "mqttgate/config", "github.com/mochi-mqtt/", "periph.io/"},
		"mqttgate/sensors":      {"mqttgate/mqtt", "mqttgate/ws", "mqttgate/login", "mqttgate/uplink", "mqttgate/config", "github.com/mochi-mqtt/", "github.com/eclipse/"},
		"mqttgate/uplink":       {"mqttgate/mqtt", "mqttgate/ws", "mqttgate/login", "mqttgate/sensors", "mqttgate/hw", "mqttgate/config", "github.com/mochi-mqtt/", "periph.io/"},
		"mqttgate/cmd/mqttgate": {"mqttgate/gatetest", "mqttgate/cmd/mqttbench", "testing"},
		"mqttgate/field":        {"mqttgate/", "github.com/", "golang.org/", "gopkg.in/", "periph.io/"},
	}
	// Leaves every part may import.
	leaves := map[string]bool{"mqttgate/field": true}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg || leaves[dep] {
				continue
			}
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b) && (strings.HasSuffix(b, "/") || strings.HasPrefix(dep, b+"/")) {
					t.Errorf("%s depends on %s, which the package graph forbids", pkg, dep)
				}
			}
		}
	}
}
