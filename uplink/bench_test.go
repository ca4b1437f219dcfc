package uplink

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// benchUplink publishes b.N QoS 1 messages from 4 local clients and waits
// until the upstream subscriber has them all (or they were dropped, which
// only the direct mode can do), reporting messages per second end to end.
func benchUplink(b *testing.B, queued bool) {
	up := gatetest.StartMosquitto(b, gatetest.MosquittoOptions{})
	local := startLocalBroker(b)
	cfg := outageConfig(up.URL())
	cfg.Queue.Disabled = !queued
	u, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), local, "gw-1", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	watch := connectClient(b, paho.NewClientOptions().AddBroker(up.URL()).SetClientID("bench-watch"))
	wait(b, watch.Subscribe("site/gw-1/sensors/#", 1, func(paho.Client, paho.Message) { got.Add(1) }), "subscribe")
	runUplink(b, u)
	eventually(b, "connected", func() bool { return u.State().Connected })
	const clients = 4
	pubs := make([]paho.Client, clients)
	for i := range pubs {
		pubs[i] = connectClient(b, paho.NewClientOptions().AddBroker("tcp://"+local.addr).SetClientID(fmt.Sprintf("bench%d", i)))
	}
	payload := []byte(`{"ts":"2026-11-23T10:00:00.123Z","temperature_c":21.43}`)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		n := b.N / clients
		if i == 0 {
			n += b.N % clients
		}
		wg.Go(func() {
			toks := make([]paho.Token, 0, 64)
			for j := range n {
				toks = append(toks, c.Publish(fmt.Sprintf("gw-1/sensors/s%d", i), 1, false, payload))
				if len(toks) == cap(toks) || j == n-1 {
					for _, t := range toks {
						t.Wait()
					}
					toks = toks[:0]
				}
			}
		})
	}
	wg.Wait()
	if !gatetest.Poll(60*time.Second, func() bool { return got.Load()+u.droppedOff.Load() >= int64(b.N) }) {
		b.Fatalf("upstream got %d of %d", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(u.droppedOff.Load()), "dropped")
}

// BenchmarkUplinkQueued: every message is fsynced into the queue before
// its local PUBACK and removed after the upstream's.
func BenchmarkUplinkQueued(b *testing.B) { benchUplink(b, true) }

// BenchmarkUplinkDirect: the same with queue.disabled (no disk).
func BenchmarkUplinkDirect(b *testing.B) { benchUplink(b, false) }
