package history

import (
	"math"
	"os"
	"testing"
	"time"
)

// TestSeed writes a day of one quantity into the history file of a data
// dir, for the dashboard's 24 h screenshot (web/test/e2e/history.test.mjs
// with MQTTGATE_E2E_HISTORY_SEED=1): a reading every 10 s over the last
// 24 h, a daily swing with a fast ripple (so the 1-minute min/max bands
// show), and a two-and-a-half-hour outage (a gap). MQTTGATE_HISTORY_SEED
// names the data dir (default: a temporary one), MQTTGATE_HISTORY_SEED_TOPIC
// the topic (field temperature_c); the gateway must not be running. Either
// way the test checks that a 24 h query answers the day at 1-minute
// resolution with the outage as a gap.
func TestSeed(t *testing.T) {
	dir := os.Getenv("MQTTGATE_HISTORY_SEED")
	if dir == "" {
		dir = t.TempDir()
	}
	topic := os.Getenv("MQTTGATE_HISTORY_SEED_TOPIC")
	if topic == "" {
		topic = "gw/sensors/demo/state"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-2 * time.Minute)
	c := &clock{end.Add(-24 * time.Hour).Truncate(time.Minute)}
	first := c.t
	r := newRec(t, c, dir, testConfig())
	open(t, r)
	key := seriesKey(topic, "temperature_c")
	for i := 0; c.t.Before(end); i++ {
		h := c.t.Sub(first).Hours()
		if h < 9 || h >= 11.5 {
			v := 21 + 3*math.Sin(2*math.Pi*h/24) + 0.6*math.Sin(2*math.Pi*float64(i)/5)
			r.add(key, c.ms(), math.Round(v*100)/100)
		}
		c.add(10 * time.Second)
		if i%360 == 0 {
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	a, err := r.Query(Request{Topic: topic, Field: "temperature_c", Range: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	v := values(a)
	if n := len(v) - countNaN(v); a.Step != 60 || n < 1290 || n > 1300 || countNaN(v) != 1 {
		t.Errorf("24 h: step %d, %d minutes and %d gaps; want 60 s, the day less 2.5 h (about 1290 minutes), one gap", a.Step, n, countNaN(v))
	}
}
