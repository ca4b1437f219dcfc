package systemd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mqttgate/gatetest"
	"mqttgate/systemd"
)

// listen opens a real unixgram socket, as systemd does, and points
// NOTIFY_SOCKET at it for the duration of the test.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short path: sun_path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// recv reads one datagram, failing the test after a generous deadline.
func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification received: %v", err)
	}
	return string(buf[:n])
}

// pending returns the datagrams already queued on conn without waiting for
// new ones (a unixgram write is queued before the writer's call returns).
func pending(t *testing.T, conn *net.UnixConn) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 4096)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got
			}
			t.Fatal(err)
		}
		got = append(got, string(buf[:n]))
	}
}

func TestNotifications(t *testing.T) {
	conn := listen(t)
	if err := systemd.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, conn); got != "READY=1" {
		t.Errorf("Ready sent %q, want READY=1", got)
	}
	if err := systemd.Reloading(); err != nil {
		t.Fatal(err)
	}
	got := recv(t, conn)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if lines[0] != "RELOADING=1" || len(lines) != 2 || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Errorf("Reloading sent %q, want RELOADING=1 and MONOTONIC_USEC=", got)
	} else if us, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || us <= 0 {
		t.Errorf("Reloading sent a bad MONOTONIC_USEC in %q", got)
	}
	if err := systemd.Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, conn); got != "STOPPING=1" {
		t.Errorf("Stopping sent %q, want STOPPING=1", got)
	}
	if os.Getenv("NOTIFY_SOCKET") == "" {
		t.Error("NOTIFY_SOCKET was removed from the environment")
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "100000")
	for name, f := range map[string]func() error{"Ready": systemd.Ready, "Stopping": systemd.Stopping, "Reloading": systemd.Reloading} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- systemd.Watchdog(context.Background(), func() bool { return true }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watchdog without NOTIFY_SOCKET: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Watchdog without NOTIFY_SOCKET did not return")
	}
}

func TestMissingSocketIsError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	if err := systemd.Ready(); err == nil || !strings.HasPrefix(err.Error(), "systemd: ") {
		t.Errorf("Ready to a missing socket: err = %v, want a systemd: error", err)
	}
}

func TestWatchdogDisabled(t *testing.T) {
	listen(t)
	for _, tc := range []struct{ usec, pid string }{
		{"", ""},        // no WatchdogSec=
		{"100000", "1"}, // meant for another process
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		if err := systemd.Watchdog(context.Background(), func() bool { return true }); err != nil {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v", tc.usec, tc.pid, err)
		}
	}
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "soon")
	if err := systemd.Watchdog(context.Background(), func() bool { return true }); err == nil {
		t.Error("malformed WATCHDOG_USEC accepted")
	}
}

func TestWatchdogPetsOnlyWhileHealthy(t *testing.T) {
	conn := listen(t)
	t.Setenv("WATCHDOG_USEC", "200000") // pets every 100 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if d, err := systemd.WatchdogInterval(); err != nil || d != 200*time.Millisecond {
		t.Fatalf("WatchdogInterval = %v, %v; want 200ms", d, err)
	}

	var healthy atomic.Bool
	var checks atomic.Int64
	healthy.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- systemd.Watchdog(ctx, func() bool {
			checks.Add(1)
			return healthy.Load()
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watchdog returned %v after cancel, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Watchdog did not return after cancel")
		}
	}()

	for i := 0; i < 3; i++ {
		if got := recv(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("watchdog sent %q, want WATCHDOG=1", got)
		}
	}

	// Unhealthy: once two checks have failed, every pet sent before them is
	// queued; drain those, let three more checks fail and expect silence.
	healthy.Store(false)
	waitChecks := func(n int64) {
		t.Helper()
		target := checks.Load() + n
		gatetest.Eventually(t, fmt.Sprintf("healthy called %d more times", n), func() bool { return checks.Load() >= target })
	}
	waitChecks(2)
	pending(t, conn)
	waitChecks(3)
	if got := pending(t, conn); len(got) != 0 {
		t.Fatalf("watchdog pets sent while unhealthy: %q", got)
	}

	healthy.Store(true)
	if got := recv(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("after recovery watchdog sent %q, want WATCHDOG=1", got)
	}
}
