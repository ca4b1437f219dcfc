package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// kind is what a package is in the graph of docs/DESIGN.md.
type kind int

const (
	// part may depend on the module packages it names and on shared ones;
	// a part that names none is a leaf.
	part kind = iota
	// shared is a leaf of one domain (such as topic names) that every
	// package may import.
	shared
	// wiring is a command: it may depend on every package but test support.
	wiring
	// testSupport is for tests only: it may depend on anything, and no
	// package but another test support package may depend on it.
	testSupport
)

// rule says what one package may depend on (directly or not).
type rule struct {
	kind kind
	// may are the module packages a part may depend on, besides shared
	// ones.
	may []string
	// never are outside import paths (or prefixes ending in "/") the
	// package must not depend on.
	never []string
}

const (
	mochiMod = "github.com/mochi-mqtt/"
	gorill   = "github.com/gorilla/"
	pahoMod  = "github.com/eclipse/"
	periph   = "periph.io/"
)

// rules names a rule for every package of the module; a new package adds
// one line (paths without the "mqttgate/" prefix).
var rules = map[string]rule{
	"login":   {kind: part, never: []string{mochiMod, gorill, pahoMod, periph}},
	"hw":      {kind: part, never: []string{mochiMod, gorill, pahoMod}},
	"systemd": {kind: part},
	"web":     {kind: part},
	"configs": {kind: part},
	"mqtt":    {kind: part, may: []string{"login"}, never: []string{periph, pahoMod}},
	"ws":      {kind: part, may: []string{"login"}, never: []string{mochiMod, periph, pahoMod}},
	// sensors and uplink reach the broker only through interfaces of their
	// own, and know nothing of each other.
	"sensors": {kind: part, may: []string{"hw"}, never: []string{mochiMod, pahoMod}},
	"uplink":  {kind: part, never: []string{mochiMod, periph}},
	// config holds every part's Config and nothing that runs.
	"config": {kind: part, may: []string{"mqtt", "ws", "login", "hw", "sensors", "uplink", "history"}},
	// field (configuration errors) is a leaf every part may import.
	"field":         {kind: shared, never: []string{"github.com/", "golang.org/", "gopkg.in/", periph}},
	"history":       {kind: part, never: []string{mochiMod, gorill, pahoMod, periph}},
	"cmd/mqttgate":  {kind: wiring, never: []string{"testing"}},
	"cmd/mqttbench": {kind: wiring, never: []string{"testing"}},
	"gatetest":      {kind: testSupport},
	"mqtt/mqtttest": {kind: testSupport},
	"crossbuild":    {kind: testSupport},
}

// TestDependencyGraph guards the package graph of docs/DESIGN.md with the
// rules above: it fails on a forbidden dependency, on a package without a
// rule and on a rule for a package that is gone.
func TestDependencyGraph(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "mqttgate/...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	const mod = "mqttgate/"
	deps := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[strings.TrimPrefix(f[0], mod)] = f[1:]
		}
	}
	for name := range rules {
		if _, ok := deps[name]; !ok {
			t.Errorf("deps_test.go has a rule for %s, which is not a package of the module: remove it", name)
		}
	}
	for pkg, all := range deps {
		r, ok := rules[pkg]
		if !ok {
			t.Errorf("package %s has no rule in cmd/mqttgate/deps_test.go: add one line saying what it may import", pkg)
			continue
		}
		for _, dep := range all {
			if why := r.forbids(dep, mod); why != "" {
				t.Errorf("%s depends on %s: %s (docs/DESIGN.md)", pkg, dep, why)
			}
		}
	}
}

// forbids says why the rule forbids dep, or "" when it allows it.
func (r rule) forbids(dep, mod string) string {
	for _, n := range r.never {
		if dep == n || strings.HasSuffix(n, "/") && strings.HasPrefix(dep, n) || strings.HasPrefix(dep, n+"/") {
			return "never allowed"
		}
	}
	name, inModule := strings.CutPrefix(dep, mod)
	if !inModule {
		return ""
	}
	dr, ok := rules[name]
	switch {
	case !ok:
		return "" // reported as a package without a rule
	case dr.kind == testSupport && r.kind != testSupport:
		return "test support is for tests only"
	case r.kind == part && dr.kind != shared && !slices.Contains(r.may, name):
		return "not among the packages its rule names"
	case r.kind == shared && dr.kind != shared:
		return "a shared package imports only shared ones"
	}
	return ""
}

// TestDependencyRules checks that the rules catch what they must.
func TestDependencyRules(t *testing.T) {
	for _, c := range []struct {
		pkg, dep string
		bad      bool
	}{
		{"config", "mqttgate/systemd", true},
		{"config", "mqttgate/mqtt", false},
		{"config", "mqttgate/login", false},
		{"mqtt", "mqttgate/ws", true},
		{"mqtt", "mqttgate/login", false},
		{"ws", "github.com/mochi-mqtt/server/v2", true},
		{"sensors", "mqttgate/mqtt", true},
		{"sensors", "mqttgate/uplink", true},
		{"uplink", "mqttgate/sensors", true},
		{"uplink", "mqttgate/hw", true},
		{"login", "mqttgate/hw", true},
		{"config", "mqttgate/gatetest", true},
		{"cmd/mqttgate", "mqttgate/gatetest", true},
		{"cmd/mqttgate", "testing", true},
		{"cmd/mqttgate", "mqttgate/systemd", false},
		{"gatetest", "mqttgate/mqtt", false},
		{"hw", "periph.io/x/conn/v3", false},
		{"hw", "mqttgate/field", false},
		{"field", "mqttgate/login", true},
		{"field", "gopkg.in/yaml.v3", true},
		{"mqtt", "mqttgate/mqtt/mqtttest", true},
		{"mqtt/mqtttest", "mqttgate/gatetest", false},
	} {
		if why := rules[c.pkg].forbids(c.dep, "mqttgate/"); (why != "") != c.bad {
			t.Errorf("%s -> %s: forbidden %v (%q), want %v", c.pkg, c.dep, why != "", why, c.bad)
		}
	}
}
