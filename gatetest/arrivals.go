package gatetest

import (
	"slices"
	"strconv"
	"testing"
)

// The methods in this file read a Recorder whose messages are numbered
// (payload "0", "1", ... per topic) to check that none is lost and that each
// topic's arrive in order; a QoS 1 resend may repeat one.

// numbers returns the message numbers per topic; a payload that is not a
// number counts as -1.
func (r *Recorder) numbers() map[string][]int {
	seen := map[string][]int{}
	for _, m := range r.All() {
		n, err := strconv.Atoi(m.Payload)
		if err != nil {
			n = -1
		}
		seen[m.Topic] = append(seen[m.Topic], n)
	}
	return seen
}

// Distinct is the number of different messages recorded over all topics.
func (r *Recorder) Distinct() int {
	d := 0
	for _, ns := range r.numbers() {
		slices.Sort(ns)
		d += len(slices.Compact(ns))
	}
	return d
}

// Topics are the topics recorded, sorted.
func (r *Recorder) Topics() []string {
	var ts []string
	for t := range r.numbers() {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// CheckOrder reports a test error for each message on topic whose first
// copy did not arrive right after the first copy of the one before (0
// comes first), and returns the last message number, -1 for none.
func (r *Recorder) CheckOrder(t testing.TB, topic string) (last int) {
	t.Helper()
	last = -1
	first := map[int]bool{}
	for _, n := range r.numbers()[topic] {
		if first[n] {
			continue
		}
		first[n] = true
		if n != last+1 {
			t.Errorf("%s: message %d arrived after %d", topic, n, last)
		}
		last = n
	}
	return last
}
