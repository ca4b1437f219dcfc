package ws

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mqttgate/gatetest"
)

func TestMetrics(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	c, _, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	d := dialer()
	if _, _, err := d.Dial(wsURL(s), nil); err == nil {
		t.Fatal("upgrade without subprotocol accepted")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want := `
# HELP mqttgate_ws_handshakes_total WebSocket upgrades accepted on /mqtt.
# TYPE mqttgate_ws_handshakes_total counter
mqttgate_ws_handshakes_total 1
# HELP mqttgate_ws_refused_total WebSocket upgrades refused on /mqtt, by reason.
# TYPE mqttgate_ws_refused_total counter
mqttgate_ws_refused_total{reason="subprotocol"} 1
`
	// The server counts an upgrade after writing the 101 answer, so the
	// client may finish dialling a moment before the count moves.
	gatetest.Poll(10*time.Second, func() bool {
		err = testutil.GatherAndCompare(reg, strings.NewReader(want), "mqttgate_ws_handshakes_total", "mqttgate_ws_refused_total")
		return err == nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestNoGoroutineLeak: after Run returns, the server's goroutines (HTTP,
// keepalive, handlers) are gone.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("serve", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.PingInterval = 10 * time.Millisecond
		cfg.MaxPreloginConnectionsPerAddr = 5 // the sink never logs in
		s := startServer(t, cfg, Deps{ServeConn: newPacketSink().serve})
		for range 5 {
			c, _, err := dial(t, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
	})
	if !gatetest.Poll(gatetest.WaitTimeout, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}
