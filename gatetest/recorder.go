package gatetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// WaitTimeout is how long the waits of this package wait for an event
// before they fail the test: long, because a loaded machine running many
// -race tests is slow, and a passing test never waits that long.
const WaitTimeout = 20 * time.Second

// Message is one message a client received.
type Message struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
}

// Recorder keeps the messages a client receives, in order of arrival, and
// lets a test wait until they meet a condition. The zero value is ready to
// use and it is safe for concurrent use: clients add from their own
// goroutines while the test waits.
type Recorder struct {
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced by each Add
	next    int           // the index Next returns
}

// Add records m and wakes the waiters.
func (r *Recorder) Add(m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// Paho is a paho.mqtt.golang MessageHandler that records each message.
func (r *Recorder) Paho(_ paho.Client, m paho.Message) {
	r.Add(Message{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained()})
}

// All returns a copy of the messages recorded so far.
func (r *Recorder) All() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Len is the number of messages recorded, duplicates included.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// On returns the payloads recorded on topic, in order.
func (r *Recorder) On(topic string) []string {
	var out []string
	for _, m := range r.All() {
		if m.Topic == topic {
			out = append(out, m.Payload)
		}
	}
	return out
}

// snapshot returns the messages and a channel closed at the next Add.
func (r *Recorder) snapshot() ([]Message, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return slices.Clone(r.msgs), r.changed
}

// Within waits up to d for a recorded message that satisfies ok and
// reports whether one came, without failing the test: for checks that
// something does not arrive, or that report their own failure.
func (r *Recorder) Within(d time.Duration, ok func(Message) bool) (Message, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		msgs, changed := r.snapshot()
		for _, m := range msgs {
			if ok(m) {
				return m, true
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return Message{}, false
		}
	}
}

// Wait waits until cond holds for the messages recorded so far and returns
// them; it fails the test after WaitTimeout. cond is called again after
// each message.
func (r *Recorder) Wait(t testing.TB, what string, cond func([]Message) bool) []Message {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		msgs, changed := r.snapshot()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("gatetest: %s: not within %v; got %d messages, the last: %v", what, WaitTimeout, len(msgs), msgs[max(0, len(msgs)-5):])
			return nil
		}
	}
}

// WaitFor waits until a message at index from or later satisfies ok and
// returns its index and the message; it fails the test after WaitTimeout.
func (r *Recorder) WaitFor(t testing.TB, from int, what string, ok func(Message) bool) (int, Message) {
	t.Helper()
	var i int
	msgs := r.Wait(t, what, func(ms []Message) bool {
		for i = from; i < len(ms); i++ {
			if ok(ms[i]) {
				return true
			}
		}
		return false
	})
	return i, msgs[i]
}

// WaitLen waits until at least n messages are recorded.
func (r *Recorder) WaitLen(t testing.TB, n int) []Message {
	t.Helper()
	return r.Wait(t, fmt.Sprintf("%d messages", n), func(ms []Message) bool { return len(ms) >= n })
}

// Next returns the first message no call of Next returned yet, waiting
// for it as a channel receive would; it fails the test after WaitTimeout.
func (r *Recorder) Next(t testing.TB) Message {
	t.Helper()
	r.mu.Lock()
	n := r.next
	r.next++
	r.mu.Unlock()
	return r.WaitLen(t, n+1)[n]
}

// TopicIs is a WaitFor condition: the message is on topic.
func TopicIs(topic string) func(Message) bool {
	return func(m Message) bool { return m.Topic == topic }
}
