package crossbuild_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
// built-in configuration, a fresh data dir, plain HTTP on loopback and the
// given ports, and waits until its MQTT port accepts. It reports
// errAddrInUse if a port was taken in the meantime.
func startArmv6(t *testing.T, dir string) (*gateway, error) {
	t.Helper()
	g := &gateway{out: &gatetest.Buffer{}, exited: make(chan struct{}), mqttAddr: gatetest.FreePort(t), dataDir: t.TempDir()}
	g.cmd = targets[0].command(t, dir, "run",
		"--data-dir", g.dataDir, "--mqtt-addr", g.mqttAddr,
		"--http-addr", gatetest.FreePort(t), "--http-tls", "off")
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.waitErr = g.cmd.Wait(); close(g.exited) }()

	deadline := time.Now().Add(120 * time.Second) // emulated ARM11: slow
	for {
		select {
		case <-g.exited:
			if strings.Contains(g.out.String(), "address already in use") {
				return nil, errAddrInUse
			}
			t.Fatalf("mqttgate (armv6, qemu) exited before accepting: %v\n%s", g.waitErr, g.out)
		default:
		}
		if c, err := net.DialTimeout("tcp", g.mqttAddr, time.Second); err == nil {
			c.Close()
			return g, nil
		}
		if time.Now().After(deadline) {
			g.kill()
			t.Fatalf("mqttgate (armv6, qemu) did not accept on %s within 120s:\n%s", g.mqttAddr, g.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var errAddrInUse = errors.New("address in use")

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
	var g *gateway
	for try := 0; ; try++ {
		var err error
		if g, err = startArmv6(t, dir); err == nil {
			break
		}
		if try == 2 {
			t.Fatal("three tries to find free ports failed")
		}
	}
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
