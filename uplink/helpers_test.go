package uplink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/login"
	"mqttgate/mqtt"
)

// localBroker is the gateway's real broker (mqtt.Broker) on a loopback
// port, anonymous clients allowed as admin. Network clients reach it on
// addr.
type localBroker struct {
	*mqtt.Broker
	addr string
}

var _ Broker = (*mqtt.Broker)(nil)

func startLocalBroker(t testing.TB) *localBroker {
	t.Helper()
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	users, err := login.OpenUsers(filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	logins, err := login.New(login.Config{Iterations: 4096}, users, bytes.Repeat([]byte{7}, 32), quiet)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mqtt.DefaultConfig()
	cfg.TCPAddr, cfg.DataDir = "127.0.0.1:0", dir
	cfg.AllowAnonymous, cfg.AnonymousRole = true, "admin"
	b, err := mqtt.New(cfg, quiet, logins)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("local broker: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("local broker not ready within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("local broker Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("local broker did not stop within 20 s")
		}
	})
	return &localBroker{Broker: b, addr: b.TCPAddr().String()}
}

// connectClient connects a paho client or fails the test.
func connectClient(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c := paho.NewClient(o.SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	tok := c.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %v: %v", o.Servers, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func wait(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(15 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runUplink starts u.Run and returns a stop func that cancels it and
// waits for Run to return.
func runUplink(t testing.TB, u *Link) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15 s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
