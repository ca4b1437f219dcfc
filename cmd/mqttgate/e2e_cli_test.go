package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"mqttgate/gatetest"
)

func TestVersion(t *testing.T) {
	out, err := exec.Command(gatetest.Binary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 || f[0] != "mqttgate" || f[3] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version printed %q", out)
	}
}

func TestConfigCheck(t *testing.T) {
	bin := gatetest.Binary(t)
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) < 2 {
		t.Fatal("configs/ should hold the laptop default and the Raspberry Pi example")
	}
	for _, f := range files {
		out, err := exec.Command(bin, "config", "check", "-c", f).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("config check %s: %v\n%s", f, err, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("data_dir: x\nmqtt:\n  addr: 127.0.0.1:1883\n  alow_anonymous: true\nhttp:\n  tls: sometimes\n"), 0o600)
	out, err := exec.Command(bin, "config", "check", "-c", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("config check of a broken file: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], bad+":4: unknown key \"alow_anonymous\" in mqtt") || !strings.HasPrefix(lines[1], bad+":6: http.tls: \"sometimes\" is not a TLS mode") {
		t.Errorf("config check printed:\n%s", out)
	}
}

func TestUserCommands(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	admin := g.AdminPassword()
	if admin == "" {
		t.Fatal("no initial admin password")
	}
	if st, err := os.Stat(filepath.Join(g.DataDir, "initial-admin-password")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("initial-admin-password: %v %v", err, st)
	}
	if !strings.Contains(g.Log(), "initial-admin-password") {
		t.Error("the log does not say where the admin password is")
	}
	if strings.Contains(g.Log(), admin) {
		t.Error("the log holds the admin password")
	}
	g.AddUser("alice", "operator", "alice-pw")
	out, err := g.CLI("", "user", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "operator") || !strings.Contains(out, "admin") {
		t.Errorf("user list: %v\n%s", err, out)
	}
	if out, err := g.CLI("x\n", "user", "add", "bob", "--role", "nonsense", "--password-stdin"); err == nil || !strings.Contains(out, `role "nonsense" does not exist`) {
		t.Errorf("user add with an unknown role: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(g.DataDir, "users.json"))
	if strings.Contains(string(data), "alice-pw") || strings.Contains(string(data), admin) {
		t.Error("users.json holds a password")
	}
	// The running gateway sees the new user without a restart.
	c := connectV3(t, g, "alice", "alice-pw", "alice-1", true)
	c.Disconnect(100)
	if out, err := g.CLI("new-admin-pw\n", "user", "passwd", "admin", "--password-stdin"); err != nil {
		t.Fatalf("passwd: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(g.DataDir, "initial-admin-password")); !os.IsNotExist(err) {
		t.Error("initial-admin-password still there after the admin password changed")
	}
	// Changes count the moment the command returns: no wait, no retry.
	connectV3(t, g, "admin", "new-admin-pw", "admin-2", true).Disconnect(50)
	if out, err := g.CLI("", "user", "del", "alice"); err != nil {
		t.Fatalf("del: %v\n%s", err, out)
	}
	if c, err := dialV3(g, "alice", "alice-pw", "alice-2", true, nil); err == nil {
		c.Disconnect(50)
		t.Error("a deleted user still logs in")
	}
	if out, err := g.CLI("", "user", "del", "alice"); err == nil || !strings.Contains(out, `no user "alice"`) {
		t.Errorf("deleting a missing user: %v\n%s", err, out)
	}
}
