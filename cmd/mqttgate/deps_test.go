package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyGraph guards the package graph of docs/DESIGN.md: mqtt, ws
// and hw are leaves that import none of the others, login is shared by
// mqtt and ws, bridge reaches the broker only through its own interface;
// field (configuration errors) is a leaf every part may import.
func TestDependencyGraph(t *testing.T) {
	forbidden := map[string][]string{
		"mqttgate/login":        {"mqttgate/", "github.com/mochi-mqtt/", "github.com/gorilla/", "github.com/eclipse/", "periph.io/"},
		"mqttgate/hw":           {"mqttgate/", "github.com/mochi-mqtt/", "github.com/gorilla/", "github.com/eclipse/"},
		"mqttgate/mqtt":         {"mqttgate/ws", "mqttgate/hw", "mqttgate/bridge", "mqttgate/config", "periph.io/"},
		"mqttgate/ws":           {"mqttgate/mqtt", "mqttgate/hw", "mqttgate/bridge", "mqttgate/config", "github.com/mochi-mqtt/", "periph.io/"},
		"mqttgate/bridge":       {"mqttgate/mqtt", "mqttgate/ws", "mqttgate/login", "mqttgate/config", "github.com/mochi-mqtt/"},
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
