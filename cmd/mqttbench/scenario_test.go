package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startMosquitto runs a real Mosquitto on a free loopback port and returns
// its address. It fails the test when mosquitto is not installed.
func startMosquitto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e != nil {
			t.Fatal("mosquitto is not installed (apt-get install -y mosquitto); this test needs a real broker")
		}
		bin = "/usr/sbin/mosquitto"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	_ = os.Chmod(dir, 0o755)
	conf := filepath.Join(dir, "mosquitto.conf")
	_, port, _ := net.SplitHostPort(addr)
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n", port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s within 15 s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFanInQoS1NoLossAgainstMosquitto(t *testing.T) {
	addr := startMosquitto(t)
	for _, v := range []int{4, 5} {
		cfg, err := parseFlags([]string{"-scenario", "fanin", "-qos", "1", "-addr", addr,
			"-mqtt", fmt.Sprint(v), "-count", "8000", "-drain", "15s"}, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		d, err := newDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		res, err := runTraffic(ctx, cfg, d)
		cancel()
		if err != nil {
			t.Fatalf("mqtt %d: %v", v, err)
		}
		t.Logf("mqtt %d: %s", v, res.human())
		if res.Error != "" {
			t.Fatalf("mqtt %d: run error: %s", v, res.Error)
		}
		if res.Sent != 8*8000 || res.Acked != res.Sent {
			t.Fatalf("mqtt %d: sent %d acked %d, want 64000 each", v, res.Sent, res.Acked)
		}
		if res.Lost != 0 || res.Dup != 0 || res.Received != res.Sent || res.Rate <= 0 {
			t.Fatalf("mqtt %d: received %d of %d, lost %d, dup %d", v, res.Received, res.Sent, res.Lost, res.Dup)
		}
	}
}
