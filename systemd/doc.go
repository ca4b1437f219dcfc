// Package systemd tells the service manager how mqttgate is doing, through
// the sd_notify protocol of Type=notify units (see mqttgate.service beside
// this file, installed by the .deb as /lib/systemd/system/mqttgate.service).
//
//   - Ready sends READY=1 once every listener accepts, and again after a
//     reload has finished.
//   - Reloading sends RELOADING=1 when SIGHUP starts a reload.
//   - Stopping sends STOPPING=1 when shutdown begins.
//   - Watchdog pets the service watchdog (WatchdogSec= in the unit) at half
//     the interval, but only while a health check passes, so that systemd
//     restarts a wedged broker.
//
// Every function is a no-op that returns nil when the process was not
// started by systemd with a notify socket (NOTIFY_SOCKET unset), so main
// calls them unconditionally. All functions are safe for concurrent use; the
// package keeps no state.
package systemd
