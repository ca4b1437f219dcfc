package main

import (
	"encoding/binary"
	"slices"
	"time"
)

// Payload layout (little endian): publisher index u32, sequence u64, send
// time i64 (nanoseconds since the run's base time, same process clock).
const payloadHeader = 20

func putPayload(p []byte, pub uint32, seq uint64, ts int64) {
	binary.LittleEndian.PutUint32(p[0:], pub)
	binary.LittleEndian.PutUint64(p[4:], seq)
	binary.LittleEndian.PutUint64(p[12:], uint64(ts))
}

func readPayload(p []byte) (pub uint32, seq uint64, ts int64, ok bool) {
	if len(p) < payloadHeader {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint32(p[0:]), binary.LittleEndian.Uint64(p[4:]),
		int64(binary.LittleEndian.Uint64(p[12:])), true
}

// seqTracker counts unique, duplicated and out-of-order sequence numbers of
// one publisher as seen by one subscriber. Not safe for concurrent use.
type seqTracker struct {
	seen   []uint64 // bitset of sequence numbers received
	max    int64    // highest sequence seen, -1 before the first
	unique int64
	dup    int64
	ooo    int64
}

func newSeqTracker(expect int) *seqTracker {
	return &seqTracker{seen: make([]uint64, expect/64+1), max: -1}
}

func (t *seqTracker) record(seq uint64) {
	w := int(seq / 64)
	if w >= len(t.seen) {
		n := max(2*len(t.seen), w+1)
		t.seen = append(t.seen, make([]uint64, n-len(t.seen))...)
	}
	bit := uint64(1) << (seq % 64)
	if t.seen[w]&bit != 0 {
		t.dup++
		return
	}
	t.seen[w] |= bit
	t.unique++
	if int64(seq) < t.max {
		t.ooo++
	} else {
		t.max = int64(seq)
	}
}

// percentile returns the q-quantile (0..1) of sorted durations.
func percentile(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return time.Duration(sorted[i])
}

func latencySummary(samples []int64) (p50, p99, mx time.Duration) {
	if len(samples) == 0 {
		return 0, 0, 0
	}
	slices.Sort(samples)
	return percentile(samples, 0.50), percentile(samples, 0.99), time.Duration(samples[len(samples)-1])
}
