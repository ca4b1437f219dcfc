package crossbuild_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// gateway is a running mqttgate under qemu.
type gateway struct {
	cmd      *exec.Cmd
	out      *gatetest.Buffer
	exited   chan struct{}
	waitErr  error
	mqttAddr string
	dataDir  string
}

// startArmv6 starts the armv6 build as an ARM1176 under qemu with the
// built-in configuration, a fresh data dir, plain HTTP on loopback and
// ports the kernel picks, and waits until it has written the addresses it
// bound and its /healthz answers.
func startArmv6(t *testing.T, dir string) *gateway {
	t.Helper()
	g := &gateway{out: &gatetest.Buffer{}, exited: make(chan struct{}), dataDir: t.TempDir()}
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	g.cmd = targets[0].command(t, dir, "run",
		"--data-dir", g.dataDir, "--mqtt-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--http-tls", "off", "--addr-file", addrFile)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.waitErr = g.cmd.Wait(); close(g.exited) }()

	// emulated ARM11: slow
	a, err := gatetest.WaitAddrFile(addrFile, g.exited, 120*time.Second)
	if err == nil {
		err = gatetest.WaitHealthy("http://"+a.HTTP, 60*time.Second)
	}
	if err != nil {
		g.kill()
		t.Fatalf("mqttgate (armv6, qemu): %v (exit: %v)\n%s", err, g.waitErr, g.out)
	}
	g.mqttAddr = a.MQTT
	return g
}

func (g *gateway) kill() {
	_ = g.cmd.Process.Kill()
	<-g.exited
}

// stop sends SIGTERM and expects a clean exit (status 0) in bounded time.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.exited:
		if g.waitErr != nil {
			t.Errorf("mqttgate exited with %v after SIGTERM, want status 0:\n%s", g.waitErr, g.out)
		}
	case <-time.After(60 * time.Second):
		g.kill()
		t.Errorf("mqttgate did not exit within 60s of SIGTERM:\n%s", g.out)
	}
}

// TestArmv6BrokerRoundTrip starts the Pi Zero build under qemu -cpu arm1176
// and has a client on the host publish to and receive from its broker,
// logging in as the first-start admin with the password from
// DATA_DIR/initial-admin-password.
func TestArmv6BrokerRoundTrip(t *testing.T) {
	dir := dist(t)
	g := startArmv6(t, dir)
	defer func() {
		select {
		case <-g.exited:
		default:
			g.kill()
		}
	}()

	pwFile := filepath.Join(g.dataDir, "initial-admin-password")
	var password string
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(pwFile)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			password = string(bytes.TrimSpace(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 60s (%v):\n%s", pwFile, err, g.out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	opts := paho.NewClientOptions().
		AddBroker("tcp://" + g.mqttAddr).
		SetClientID("crossbuild-host").
		SetUsername("admin").
		SetPassword(password).
		SetAutoReconnect(false).
		SetConnectTimeout(60 * time.Second). // PBKDF2 under emulation
		SetWriteTimeout(30 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(90*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as admin: %v\n%s", tok.Error(), g.out)
	}
	defer c.Disconnect(250)

	const topic = "crossbuild/roundtrip"
	payload := fmt.Sprintf("hello from the host %d", time.Now().UnixNano())
	got := make(chan string, 4)
	if tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		got <- string(m.Payload())
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != payload {
			t.Errorf("received %q, want %q", m, payload)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no message back from the armv6 broker within 30s:\n%s", g.out)
	}
	c.Disconnect(250)
	g.stop(t)
}
