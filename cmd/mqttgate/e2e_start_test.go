package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mqttgate/gatetest"
)

// TestPortInUse: a port that is taken ends the start with one line that
// names the flag and the key that move it, and leaves the fresh data dir
// untouched (no users file, store or certificate).
func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, c := range []struct{ flag, want string }{
		{"--mqtt-addr", "mqttgate: mqtt listener " + addr + ": address already in use (move it with --mqtt-addr or mqtt.addr)"},
		{"--http-addr", "mqttgate: http listener " + addr + ": address already in use (move it with --http-addr or http.addr)"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		args := []string{"run", "--data-dir", dataDir, "--mqtt-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", c.flag, addr}
		cmd := exec.Command(gatetest.Binary(t), args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("%s on a taken port: %v, want exit status 1\n%s", c.flag, err, stderr.String())
		}
		if got := strings.TrimRight(stderr.String(), "\n"); got != c.want {
			t.Errorf("%s on a taken port printed\n%s\nwant the one line\n%s", c.flag, got, c.want)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s on a taken port: the data dir was created (%v)", c.flag, err)
		}
	}
}

// TestAddrFile: the addresses file names the ports the gateway bound and
// goes when it stops.
func TestAddrFile(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{})
	a, err := gatetest.WaitAddrFile(g.AddrFile, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.MQTT != g.MQTTAddr || a.HTTP != g.HTTPAddr || strings.HasSuffix(a.MQTT, ":0") || a.MQTTTLS != "" {
		t.Errorf("addr file %+v, gateway %s %s", a, g.MQTTAddr, g.HTTPAddr)
	}
	if !strings.Contains(g.Log(), `msg="gateway ready"`) || !strings.Contains(g.Log(), "mqtt="+a.MQTT+" http="+a.HTTP) {
		t.Errorf("the ready line does not log the bound addresses:\n%s", g.Log())
	}
	if err := g.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.AddrFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("addr file still there after the gateway stopped: %v", err)
	}
}

// TestHelp: --help prints the usage with the flags spelt as in it, and
// exits 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"run", "--help"}, {"run", "-h"}, {"config", "--help"}, {"config", "check", "--help"},
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "list", "-h"},
	} {
		out, err := exec.Command(gatetest.Binary(t), args...).Output()
		if err != nil {
			t.Errorf("mqttgate %s: %v", strings.Join(args, " "), err)
			continue
		}
		s := string(out)
		if !strings.HasPrefix(s, "usage: mqttgate") || !strings.Contains(s, "--data-dir") || strings.Contains(s, " -data-dir") {
			t.Errorf("mqttgate %s printed:\n%s", strings.Join(args, " "), s)
		}
	}
}

// TestUserCommandsNeedUsersFile: the user commands on a data dir without
// a users file say which file they looked for and create nothing, unless
// `user add --create` asks for it.
func TestUserCommandsNeedUsersFile(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"list"}, {"del", "bob"}, {"add", "bob", "--password-stdin"}, {"passwd", "bob", "--password-stdin"}} {
		cmd := exec.Command(gatetest.Binary(t), append(append([]string{"user"}, args...), "--data-dir", dataDir)...)
		cmd.Stdin = strings.NewReader("pw\n")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no users file "+filepath.Join(dataDir, "users.json")) {
			t.Errorf("user %s without a users file: %v\n%s", args[0], err, out)
		}
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the user commands created the data dir: %v", err)
	}
	cmd := exec.Command(gatetest.Binary(t), "user", "add", "bob", "--password-stdin", "--create", "--data-dir", dataDir)
	cmd.Stdin = strings.NewReader("pw\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add --create: %v\n%s", err, out)
	}
	out, err := exec.Command(gatetest.Binary(t), "user", "list", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bob") {
		t.Errorf("user list after add --create: %v\n%s", err, out)
	}
}
