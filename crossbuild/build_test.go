package crossbuild_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// target is one binary cross.sh builds.
type target struct {
	name   string // suffix: dist/mqttgate-linux-<name>
	goarch string // what `mqttgate version` must answer
	goarm  string // GOARM build setting, "" if none
	qemu   []string
}

var targets = []target{
	{"armv6", "arm", "6", []string{"qemu-arm-static", "-cpu", "arm1176"}},
	{"armv7", "arm", "7", []string{"qemu-arm-static"}},
	{"arm64", "arm64", "", []string{"qemu-aarch64-static"}},
	{"amd64", "amd64", "", nil},
}

// debArchs maps each .deb architecture to the binary it must carry.
var debArchs = map[string]string{"armhf": "armv6", "arm64": "arm64", "amd64": "amd64"}

// build holds the shared output of cross.sh and deb.sh.
type build struct {
	crossOnce, debOnce sync.Once
	dir                string // DIST_DIR
	crossErr, debErr   error
	version, commit    string
	debs               map[string]string // arch -> path
}

var shared build // set up once per test binary by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mqttgate-dist-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root (tests run in crossbuild/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runScript runs a crossbuild script with DIST_DIR set and the version
// variables cleared, so that the script's own defaults are tested.
func runScript(root, script string, env ...string) error {
	cmd := exec.Command(filepath.Join(root, "crossbuild", script))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DIST_DIR="+shared.dir, "VERSION=", "COMMIT=", "GOOS=", "GOARCH=", "GOARM=", "GOFLAGS=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("crossbuild/%s: %v\n%s", script, err, out)
	}
	fmt.Fprintf(os.Stderr, "%s", out) // sizes, for the log of the run
	return nil
}

// dist builds every target once and returns DIST_DIR.
func dist(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	shared.crossOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(root, "cmd", "mqttgate")); err != nil {
			shared.crossErr = fmt.Errorf("cmd/mqttgate is missing: %v", err)
			return
		}
		if shared.crossErr = runScript(root, "cross.sh"); shared.crossErr != nil {
			return
		}
		shared.version, shared.commit, shared.crossErr = readVersion(filepath.Join(shared.dir, "VERSION"))
	})
	if shared.crossErr != nil {
		t.Fatal(shared.crossErr)
	}
	return shared.dir
}

func readVersion(path string) (version, commit string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "VERSION":
			version = v
		case "COMMIT":
			commit = v
		}
	}
	if version == "" || commit == "" {
		return "", "", fmt.Errorf("%s: want VERSION= and COMMIT= lines", path)
	}
	return version, commit, sc.Err()
}

// raspberryConfig is the config the package installs as
// /etc/mqttgate/config.yaml.
func raspberryConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "configs", "raspberrypi.yaml")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("configs/raspberrypi.yaml (the packaged config): %v", err)
	}
	return p
}

// packages builds the .debs once (after the binaries) and returns them by
// Debian architecture.
func packages(t *testing.T) map[string]string {
	t.Helper()
	dir := dist(t)
	root := repoRoot(t)
	cfg := raspberryConfig(t)
	shared.debOnce.Do(func() {
		if shared.debErr = runScript(root, "deb.sh", "MQTTGATE_CONFIG="+cfg); shared.debErr != nil {
			return
		}
		shared.debs = map[string]string{}
		for arch := range debArchs {
			m, _ := filepath.Glob(filepath.Join(dir, "mqttgate_*_"+arch+".deb"))
			if len(m) != 1 {
				shared.debErr = fmt.Errorf("want one mqttgate_*_%s.deb in DIST_DIR, found %q", arch, m)
				return
			}
			shared.debs[arch] = m[0]
		}
	})
	if shared.debErr != nil {
		t.Fatal(shared.debErr)
	}
	return shared.debs
}

// tool returns the path of an external program or fails with how to get it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with `apt-get install -y %s` (make test does)", name, pkg)
	}
	return p
}
