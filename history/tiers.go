package history

import (
	"math"
	"time"
)

// Resolutions of the two stored tiers.
const (
	minute  = int64(time.Minute / time.Millisecond)
	quarter = int64(15 * time.Minute / time.Millisecond)
	// rawSpan is how far back raw readings are kept in memory.
	rawSpan = int64(time.Hour / time.Millisecond)
	// rawMax bounds the raw readings kept per series (one a second).
	rawMax = 3600
	// pendingMax bounds the closed aggregates a series keeps while the
	// disk cannot take them (a day of minutes).
	pendingMax = 1440
)

// agg accumulates readings into min, avg, max and last.
type agg struct {
	min, max, sum, last float64
	n                   int
}

func (a *agg) add(v float64) {
	if a.n == 0 || v < a.min {
		a.min = v
	}
	if a.n == 0 || v > a.max {
		a.max = v
	}
	a.sum += v
	a.last = v
	a.n++
}

// slot is one closed aggregate: the interval starting at T (ms).
type slot struct {
	T                   int64
	Min, Avg, Max, Last float32
}

func (a *agg) slot(t int64) slot {
	return slot{T: t, Min: float32(a.min), Avg: float32(a.sum / float64(a.n)), Max: float32(a.max), Last: float32(a.last)}
}

// series is the in-memory state of one (topic, field).
type series struct {
	// raw readings of the last hour, oldest first; times in ms.
	rawT []int64
	rawV []float32

	// the open minute and quarter hour (start in ms; n == 0: none).
	m1, m15           agg
	m1Start, m15Start int64

	// closed intervals not yet written to disk.
	pending1, pending15 []slot
}

// add records v at t (ms). Readings older than the open intervals are
// kept in the raw tier only.
func (s *series) add(t int64, v float64) {
	s.addRaw(t, v)
	s.close(t)
	if m := t - mod(t, minute); s.m1.n == 0 || m == s.m1Start {
		s.m1Start = m
		s.m1.add(v)
	}
	if q := t - mod(t, quarter); s.m15.n == 0 || q == s.m15Start {
		s.m15Start = q
		s.m15.add(v)
	}
}

func (s *series) addRaw(t int64, v float64) {
	if n := len(s.rawT); n > 0 && t < s.rawT[n-1] {
		return // out of order: the tiers above still take it
	}
	drop := 0
	for drop < len(s.rawT) && s.rawT[drop] <= t-rawSpan {
		drop++
	}
	if len(s.rawT)-drop >= rawMax {
		drop = len(s.rawT) - rawMax + 1
	}
	if drop > 0 {
		s.rawT = append(s.rawT[:0], s.rawT[drop:]...)
		s.rawV = append(s.rawV[:0], s.rawV[drop:]...)
	}
	s.rawT = append(s.rawT, t)
	s.rawV = append(s.rawV, float32(v))
}

// close moves the open intervals that ended before now (ms) to pending.
func (s *series) close(now int64) {
	if s.m1.n > 0 && now >= s.m1Start+minute {
		s.pending1 = appendBounded(s.pending1, s.m1.slot(s.m1Start))
		s.m1 = agg{}
	}
	if s.m15.n > 0 && now >= s.m15Start+quarter {
		s.pending15 = appendBounded(s.pending15, s.m15.slot(s.m15Start))
		s.m15 = agg{}
	}
}

func appendBounded(p []slot, sl slot) []slot {
	if len(p) >= pendingMax {
		p = append(p[:0], p[1:]...)
	}
	return append(p, sl)
}

// open returns the open interval of the tier with step as a slot.
func (s *series) open(step int64) (slot, bool) {
	if step == minute && s.m1.n > 0 {
		return s.m1.slot(s.m1Start), true
	}
	if step == quarter && s.m15.n > 0 {
		return s.m15.slot(s.m15Start), true
	}
	return slot{}, false
}

func (s *series) pending(step int64) []slot {
	if step == minute {
		return s.pending1
	}
	return s.pending15
}

// mod is the non-negative remainder of a / b.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// nan32 marks an empty slot on disk.
var nan32 = float32(math.NaN())
