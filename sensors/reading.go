package sensors

import (
	"math"
	"strconv"
	"time"

	"mqttgate/hw"
)

// tsLayout is RFC 3339 with milliseconds; times are formatted in UTC.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// appendReading appends the JSON form of r to b:
// {"ts":"2026-11-23T10:00:00.123Z","temperature_c":21.43,...}. Values that
// are NaN or infinite are left out (JSON has no encoding for them).
func appendReading(b []byte, r hw.Reading) []byte {
	b = append(b, `{"ts":"`...)
	b = r.Time.UTC().AppendFormat(b, tsLayout)
	b = append(b, '"')
	for _, q := range r.Values {
		if math.IsNaN(q.Value) || math.IsInf(q.Value, 0) {
			continue
		}
		b = append(b, ',')
		b = strconv.AppendQuote(b, q.Key())
		b = append(b, ':')
		b = strconv.AppendFloat(b, q.Value, 'f', -1, 64)
	}
	return append(b, '}')
}

// appendState appends {"state":"on","ts":"..."}.
func appendState(b []byte, s hw.State, t time.Time) []byte {
	b = append(b, `{"state":"`...)
	b = append(b, s.String()...)
	b = append(b, `","ts":"`...)
	b = t.UTC().AppendFormat(b, tsLayout)
	return append(b, `"}`...)
}

// deadband decides which readings of one sensor are published. Not safe
// for concurrent use; each sensor loop has its own.
type deadband struct {
	band  map[string]float64 // nil: publish every reading
	every int                // republish after this many skipped readings
	last  map[string]float64 // last published values
	skips int
}

// publish reports whether r should be published, and if so records it.
func (d *deadband) publish(r hw.Reading) bool {
	if d.band == nil || d.last == nil || d.skips+1 >= d.every || len(r.Values) != len(d.last) {
		d.record(r)
		return true
	}
	for _, q := range r.Values {
		prev, ok := d.last[q.Key()]
		if !ok || math.Abs(q.Value-prev) > d.band[q.Key()] {
			d.record(r)
			return true
		}
	}
	d.skips++
	return false
}

func (d *deadband) record(r hw.Reading) {
	if d.band == nil {
		return
	}
	if d.last == nil {
		d.last = make(map[string]float64, len(r.Values))
	}
	clear(d.last)
	for _, q := range r.Values {
		d.last[q.Key()] = q.Value
	}
	d.skips = 0
}

// backoff returns the wait before the next attempt after failures
// consecutive failures: the interval until the sensor goes offline, then
// doubling per failure up to MaxBackoff.
func backoff(interval time.Duration, failures, threshold int) time.Duration {
	if failures < threshold {
		return interval
	}
	d := interval
	for i := 0; i <= failures-threshold && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, max(MaxBackoff, interval))
}

// jitter spreads d by ±5% (r in [0,1)) so sensors drift apart.
func jitter(d time.Duration, r float64) time.Duration {
	return d + time.Duration((r-0.5)*0.1*float64(d))
}
