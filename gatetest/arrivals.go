package gatetest

import (
	"slices"
	"sync"
	"testing"
)

// Arrivals records numbered messages (payload "0", "1", ...) per topic as
// they arrive, to check that none is lost and that each topic's arrive in
// order; a QoS 1 resend may repeat one. The zero value is ready to use and
// it is safe for concurrent use.
type Arrivals struct {
	mu    sync.Mutex
	seen  map[string][]int
	total int
}

// Add records message n on topic.
func (a *Arrivals) Add(topic string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[string][]int{}
	}
	a.seen[topic] = append(a.seen[topic], n)
	a.total++
}

// Received is the number of messages recorded, duplicates included.
func (a *Arrivals) Received() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// Distinct is the number of different messages recorded over all topics.
func (a *Arrivals) Distinct() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := 0
	for _, ns := range a.seen {
		set := map[int]bool{}
		for _, n := range ns {
			set[n] = true
		}
		d += len(set)
	}
	return d
}

// Topics are the topics recorded, sorted.
func (a *Arrivals) Topics() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ts []string
	for t := range a.seen {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// CheckOrder reports a test error for each message on topic whose first
// copy did not arrive right after the first copy of the one before (0
// comes first), and returns the last message number, -1 for none.
func (a *Arrivals) CheckOrder(t testing.TB, topic string) (last int) {
	t.Helper()
	a.mu.Lock()
	ns := slices.Clone(a.seen[topic])
	a.mu.Unlock()
	last = -1
	first := map[int]bool{}
	for _, n := range ns {
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
