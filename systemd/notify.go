package systemd

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify sends state to the notify socket named by NOTIFY_SOCKET. It leaves
// the environment as it is: the watchdog and later notifications need it.
func notify(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("systemd: notify %q: %w", state, err)
	}
	return nil
}

// Ready tells systemd that start-up (or a reload) has finished: READY=1.
func Ready() error { return notify(daemon.SdNotifyReady) }

// Stopping tells systemd that shutdown has begun: STOPPING=1.
func Stopping() error { return notify(daemon.SdNotifyStopping) }

// Reloading tells systemd that a reload has begun: RELOADING=1 with the
// MONOTONIC_USEC timestamp newer systemd versions expect. Call Ready when
// the reload has finished, whether it succeeded or the old configuration
// was kept.
func Reloading() error {
	return notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
}

// WatchdogInterval returns the interval systemd expects WATCHDOG=1 within
// (WatchdogSec= of the unit), or 0 if the watchdog is not enabled for this
// process.
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("systemd: watchdog: %w", err)
	}
	return d, nil
}

// Watchdog pets the systemd watchdog (WATCHDOG=1) every half interval for
// as long as healthy returns true. When healthy returns false it skips the
// pet, so a broker that stays unhealthy for the whole WatchdogSec is killed
// and restarted by systemd (Restart=on-failure); one bad check is forgiven.
//
// It blocks until ctx is cancelled and then returns nil. If the watchdog is
// not enabled (no WatchdogSec=, no NOTIFY_SOCKET, or WATCHDOG_PID names
// another process) it returns nil at once. It returns an error only for a
// malformed WATCHDOG_USEC. A failed send is retried at the next tick.
// healthy is called from Watchdog's goroutine and must not block for long.
func Watchdog(ctx context.Context, healthy func() bool) error {
	interval, err := WatchdogInterval()
	if err != nil {
		return err
	}
	if interval <= 0 || os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	for {
		if healthy() {
			_ = notify(daemon.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
