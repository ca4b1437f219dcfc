package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"mqttgate/gatetest"
)

func TestFanInQoS1NoLossAgainstMosquitto(t *testing.T) {
	addr := gatetest.StartMosquitto(t, gatetest.MosquittoOptions{}).Addr()
	for _, v := range []int{4, 5} {
		cfg, err := parseFlags([]string{"-scenario", "fanin", "-qos", "1", "-addr", addr,
			"-mqtt", fmt.Sprint(v), "-count", "8000", "-drain", "15s"}, os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		d, err := newDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		res, err := runTraffic(ctx, cfg, d)
		cancel()
		if err != nil {
			t.Fatalf("mqtt %d: %v", v, err)
		}
		t.Logf("mqtt %d: %s", v, res.human())
		if res.Error != "" {
			t.Fatalf("mqtt %d: run error: %s", v, res.Error)
		}
		if res.Sent != 8*8000 || res.Acked != res.Sent {
			t.Fatalf("mqtt %d: sent %d acked %d, want 64000 each", v, res.Sent, res.Acked)
		}
		if res.Lost != 0 || res.Dup != 0 || res.Received != res.Sent || res.Rate <= 0 {
			t.Fatalf("mqtt %d: received %d of %d, lost %d, dup %d", v, res.Received, res.Sent, res.Lost, res.Dup)
		}
	}
}
