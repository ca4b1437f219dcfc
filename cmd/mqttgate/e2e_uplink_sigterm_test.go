package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mqttgate/gatetest"
)

// TestUplinkSigtermKeepsAcknowledged: publishers keep sending QoS 1 while
// the gateway stops with SIGTERM (upstream down); every message the
// gateway acknowledged is in the uplink's queue after the restart.
func TestUplinkSigtermKeepsAcknowledged(t *testing.T) {
	up := newUpstream(t, false) // never started: everything stays queued
	g := gatetest.Start(t, gatetest.Options{YAML: uplinkYAML(up, sensorsOutRule)})
	pw := g.AdminPassword() // the uplink is hooked before the broker listens: publish at once
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		c := connectV3(t, g, "admin", pw, fmt.Sprint("pub-", i), true)
		wg.Go(func() {
			for n := 0; ; n++ {
				tok := c.Publish(fmt.Sprintf("gw-test/sensors/s%d", i), 1, false, strconv.Itoa(n))
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					return // the gateway went away
				}
				acked.Add(1)
			}
		})
	}
	// Stop while the publishers are busy: after some messages are queued.
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, ">= 200", func(v float64) bool { return v >= 200 })
	if err := g.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	wg.Wait()
	g.StartAgain()
	// A message may be queued without its PUBACK reaching the publisher
	// (at least once), never the other way round.
	waitMetric(t, g, "mqttgate_uplink_queue_messages", `uplink="cloud"`, fmt.Sprintf(">= %d acknowledged", acked.Load()),
		func(v float64) bool { return v >= float64(acked.Load()) })
}
