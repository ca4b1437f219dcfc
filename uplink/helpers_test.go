package uplink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
	"mqttgate/mqtt"
	"mqttgate/mqtt/mqtttest"
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
	cfg := mqtttest.Config(t)
	cfg.AllowAnonymous, cfg.AnonymousRole = true, "admin"
	s := mqtttest.NewServer(t, cfg, &mqtttest.Options{Users: []mqtttest.User{}, Logger: slog.New(slog.DiscardHandler)})
	return &localBroker{Broker: s.Broker, addr: s.Addr}
}

// connectClient connects a paho client or fails the test.
func connectClient(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	return mqtttest.MustPaho(t, o.SetConnectTimeout(5*time.Second).SetAutoReconnect(false))
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

// eventually waits until cond holds, failing the test after 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	gatetest.Eventually(t, what, cond)
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
