package mqtt

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"mqttgate/gatetest"
	"mqttgate/login"
)

// connackOf connects with a plain password over MQTT 5 and returns the
// CONNACK's reason code. It is safe to call from any goroutine.
func connackOf(addr, id, user, pass string) (byte, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	pk := connectPacket(id, user, pass, 5)
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		return 0, err
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	ack, err := gatetest.ReadPacket(bufio.NewReader(c), 5)
	if err != nil {
		return 0, err
	}
	if ack.FixedHeader.Type != packets.Connack {
		return 0, fmt.Errorf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return ack.ReasonCode, nil
}

// gauge reads one of the login service's metrics.
func gauge(t testing.TB, s *login.Service, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A flood of wrong plain passwords queues logins (a bounded number, the
// rest refused with 0x89 at once, counted against no one) while a
// connected client's QoS 1 publish is acknowledged before the queue drains.
func TestLoginFloodQueuesLogins(t *testing.T) {
	dir := t.TempDir()
	logins := newLogins(t, dir, login.Config{
		MaxConcurrentChecks: 1, MaxQueuedChecks: 4, CheckQueueTimeout: time.Minute,
		MaxFailures: 1000, MaxFailedUsers: 1000, PlainCacheTTL: -1,
	})
	// A user whose checks are slow, so the queue stays full a while.
	if err := logins.Users().Add("slow", "device", "right", 100_000); err != nil {
		t.Fatal(err)
	}
	e := startBroker(t, testConfig(dir), logins)
	pub := mustConnect(t, e.addr(), "pub", "admin")

	const flood = 10
	codes := make(chan byte, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			code, err := connackOf(e.addr(), fmt.Sprintf("f%d", i), "slow", "wrong")
			if err != nil {
				t.Errorf("flood login %d: %v", i, err)
			}
			codes <- code
		})
	}
	t.Cleanup(wg.Wait)
	gatetest.Eventually(t, "the check queue fills", func() bool {
		return gauge(t, logins, "mqttgate_password_checks_waiting") >= 4
	})
	// The queue is full: the others were refused at once with server busy.
	for range flood - 5 {
		if code := <-codes; code != packets.ErrServerBusy.Code {
			t.Errorf("login beyond the queue: reason %#x, want 0x89", code)
		}
	}
	wait(t, pub.Publish("devices/x", 1, false, "during the flood"))
	if n := gauge(t, logins, "mqttgate_password_checks_waiting"); n == 0 {
		t.Error("the logins drained before the QoS 1 publish was acknowledged")
	}
	if n := gauge(t, logins, "mqttgate_password_checks_busy_total"); n != flood-5 {
		t.Errorf("busy_total = %v, want %d", n, flood-5)
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != packets.ErrNotAuthorized.Code {
			t.Errorf("queued login: reason %#x, want 0x87", code)
		}
	}
	if _, err := connackOf(e.addr(), "ok", "dev1", "pw-dev1"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkQoS1DuringLoginFlood measures a connected client's QoS 1
// publish round trip while 32 connections keep sending wrong passwords
// (100000 PBKDF2 iterations each), with the checks bounded as configured
// and, for comparison, practically unbounded.
func BenchmarkQoS1DuringLoginFlood(b *testing.B) {
	for _, c := range []struct {
		name  string
		bound int
	}{{"bounded", 0}, {"unbounded", 1000}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			logins := newLogins(b, dir, login.Config{
				MaxConcurrentChecks: c.bound, MaxQueuedChecks: 1000, CheckQueueTimeout: time.Minute,
				MaxFailures: 1 << 30, MaxFailedUsers: 1 << 30, PlainCacheTTL: -1,
			})
			if err := logins.Users().Add("victim", "device", "right", login.DefaultIterations); err != nil {
				b.Fatal(err)
			}
			e := startBroker(b, testConfig(dir), logins)
			pub := mustConnect(b, e.addr(), "pub", "admin")
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, _ = connackOf(e.addr(), fmt.Sprintf("f%d", i), "victim", "wrong")
					}
				})
			}
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				wait(b, pub.Publish("devices/x", 1, false, "x"))
				worst = max(worst, time.Since(t0))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
			close(stop)
			wg.Wait()
		})
	}
}
