package mqtt

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"mqttgate/login"
)

// TestServeOnCallersListener: Serve serves on a listener the caller bound
// (as cmd/mqttgate does, before it creates anything on disk), the broker
// reports that address, and the listener is closed when Serve returns.
func TestServeOnCallersListener(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, slog.New(slog.DiscardHandler), newLogins(t, dir, login.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, Listeners{TCP: l}) }()
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("broker not ready")
	}
	if got := b.TCPAddr().String(); got != l.Addr().String() {
		t.Errorf("TCPAddr = %s, want the caller's %s", got, l.Addr())
	}
	c := mustConnect(t, l.Addr().String(), "serve-1", "admin")
	c.Disconnect(100)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after a normal stop", err)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Serve returned")
	}
}

// TestServeTLSListenerNeedsConfig: a TLS listener without mqtt.tls_addr
// (so without a certificate) is refused, and the listener is closed.
func TestServeTLSListenerNeedsConfig(t *testing.T) {
	dir := t.TempDir()
	b, err := New(testConfig(dir), slog.New(slog.DiscardHandler), newLogins(t, dir, login.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = b.Serve(context.Background(), Listeners{TLS: l})
	if err == nil {
		t.Fatal("Serve accepted a TLS listener without a TLS config")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener not closed: Accept = %v", err)
	}
}
