package crossbuild_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mqttgate/gatetest"
)

// TestNotifyProtocol runs the packaged (amd64) binary the way the unit's
// Type=notify and WatchdogSec= run it: with NOTIFY_SOCKET and WATCHDOG_USEC
// set, it must say READY=1 once it serves, pet the watchdog, bracket a
// SIGHUP reload with RELOADING=1 and READY=1, and say STOPPING=1 on SIGTERM.
func TestNotifyProtocol(t *testing.T) {
	dir := dist(t)
	sockDir, err := os.MkdirTemp("", "sdn") // sun_path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := sockDir + "/notify"
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	out := &gatetest.Buffer{}
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	cmd := exec.Command(targets[3].path(dir), "run", "--data-dir", t.TempDir(),
		"--mqtt-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--http-tls", "off", "--addr-file", addrFile)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=2000000")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()

	// next returns the next notification, ignoring watchdog pets unless
	// wanted.
	buf := make([]byte, 4096)
	next := func(what string, pets bool) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if err := conn.SetReadDeadline(deadline); err != nil {
				t.Fatal(err)
			}
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v\n%s", what, err, out)
			}
			msg := strings.TrimSpace(string(buf[:n]))
			if msg == "WATCHDOG=1" && !pets {
				continue
			}
			return msg
		}
	}

	if got := next("READY=1", false); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1\n%s", got, out)
	}
	// READY=1 means the addresses are written and the MQTT listener accepts.
	a, err := gatetest.WaitAddrFile(addrFile, nil, 0)
	if err != nil {
		t.Fatalf("READY=1 sent but: %v", err)
	}
	mqttAddr := a.MQTT
	c, err := net.DialTimeout("tcp", mqttAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but %s does not accept: %v", mqttAddr, err)
	}
	c.Close()
	if got := next("WATCHDOG=1", true); got != "WATCHDOG=1" {
		t.Fatalf("got %q, want a watchdog pet WATCHDOG=1", got)
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := next("RELOADING=1", false); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("after SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := next("READY=1 after reload", false); got != "READY=1" {
		t.Fatalf("after reload %q, want READY=1", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next("STOPPING=1", false); got != "STOPPING=1" {
		t.Fatalf("after SIGTERM %q, want STOPPING=1", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGTERM\n%s", out)
	}
}
