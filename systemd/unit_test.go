package systemd_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "mqttgate.service"

// systemdAnalyze returns the path of systemd-analyze or fails the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (%v): install it with `apt-get install -y systemd` (make test does)", err)
	}
	return p
}

// unitCopy writes the unit into a temporary directory with ExecStart
// pointing at an executable stand-in for /usr/bin/mqttgate, because
// `systemd-analyze verify` insists that the command exists. Only that path
// is changed.
func unitCopy(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mqttgate")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const exec = "ExecStart=/usr/bin/mqttgate "
	if bytes.Count(src, []byte(exec)) != 1 {
		t.Fatalf("%s: want exactly one %q line", unitFile, exec)
	}
	out := bytes.Replace(src, []byte(exec), []byte("ExecStart="+bin+" "), 1)
	path := filepath.Join(dir, unitFile)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitVerify(t *testing.T) {
	sa := systemdAnalyze(t)
	path := unitCopy(t)
	cmd := exec.Command(sa, "verify", "--man=no", path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}

func TestUnitSecurityScore(t *testing.T) {
	sa := systemdAnalyze(t)
	path := unitCopy(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for mqttgate\.service: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security --offline=true: %.1f %s", score, m[2])
	if score > 2.0 {
		t.Errorf("exposure level %.1f %s, want 2.0 or lower:\n%s", score, m[2], out)
	}
}

// directives parses the [Service] section into key -> values.
func directives(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: bad line %q", unitFile, line)
			}
			d[section+k] = append(d[section+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestUnitContract pins what the package, the binary and the docs rely on.
func TestUnitContract(t *testing.T) {
	d := directives(t)
	want := map[string]string{
		"[Service]Type":                    "notify",
		"[Service]ExecStart":               "/usr/bin/mqttgate run -c /etc/mqttgate/config.yaml",
		"[Service]ExecReload":              "/bin/kill -HUP $MAINPID",
		"[Service]WatchdogSec":             "30s",
		"[Service]Restart":                 "on-failure",
		"[Service]User":                    "mqttgate",
		"[Service]StateDirectory":          "mqttgate",
		"[Service]ConfigurationDirectory":  "mqttgate",
		"[Service]SupplementaryGroups":     "i2c gpio",
		"[Service]CapabilityBoundingSet":   "",
		"[Service]AmbientCapabilities":     "",
		"[Service]NoNewPrivileges":         "yes",
		"[Service]ProtectSystem":           "strict",
		"[Service]MemoryDenyWriteExecute":  "yes",
		"[Service]DevicePolicy":            "closed",
		"[Service]UMask":                   "0077",
		"[Service]Environment":             "GOMEMLIMIT=200MiB GODEBUG=adaptivestackstart=0",
		"[Service]RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"[Install]WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		got := d[k]
		if len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	devices := strings.Join(d["[Service]DeviceAllow"], ",")
	if devices != "char-i2c rw,char-gpiochip rw" {
		t.Errorf("DeviceAllow = %q, want char-i2c rw and char-gpiochip rw", devices)
	}
}
