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
// show), and a two-and-a-half-hour outage (a gap). Skipped unless
// MQTTGATE_HISTORY_SEED names the data dir; MQTTGATE_HISTORY_SEED_TOPIC is
// the topic (field temperature_c). The gateway must not be running.
func TestSeed(t *testing.T) {
	dir := os.Getenv("MQTTGATE_HISTORY_SEED")
	if dir == "" {
		t.Skip("MQTTGATE_HISTORY_SEED is not set")
	}
	topic := os.Getenv("MQTTGATE_HISTORY_SEED_TOPIC")
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
}
