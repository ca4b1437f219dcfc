package gatetest

import (
	"fmt"
	"strconv"
	"testing"
)

// errRecorder keeps the errors a check reports instead of failing the test.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Helper() {}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestRecorderNumbered(t *testing.T) {
	var a Recorder
	add := func(topic string, ns ...int) {
		for _, n := range ns {
			a.Add(Message{Topic: topic, Payload: strconv.Itoa(n)})
		}
	}
	add("a", 0, 1, 1, 2) // 1 resent
	add("b", 0, 2, 1)    // 2 overtook 1
	if got := a.Len(); got != 7 {
		t.Errorf("Len = %d, want 7", got)
	}
	if got := a.Distinct(); got != 6 {
		t.Errorf("Distinct = %d, want 6", got)
	}
	if got := fmt.Sprint(a.Topics()); got != "[a b]" {
		t.Errorf("Topics = %s, want [a b]", got)
	}
	r := &errRecorder{TB: t}
	if last := a.CheckOrder(r, "a"); last != 2 || len(r.errs) != 0 {
		t.Errorf("CheckOrder(a) = %d, errors %q; want 2 and none (a resend is no disorder)", last, r.errs)
	}
	if last := a.CheckOrder(r, "b"); last != 1 || fmt.Sprint(r.errs) != "[b: message 2 arrived after 0 b: message 1 arrived after 2]" {
		t.Errorf("CheckOrder(b) = %d, errors %q; want 1 and both out-of-order arrivals", last, r.errs)
	}
	if last := a.CheckOrder(r, "none"); last != -1 {
		t.Errorf("CheckOrder of an unseen topic = %d, want -1", last)
	}
}

// TestRecorderWaits: waits return as soon as a message from another
// goroutine meets them, and Next hands out each message once, in order.
func TestRecorderWaits(t *testing.T) {
	var r Recorder
	go func() {
		for i := range 50 {
			r.Add(Message{Topic: "t/" + strconv.Itoa(i%2), Payload: strconv.Itoa(i)})
		}
	}()
	if i, m := r.WaitFor(t, 10, "an odd message", TopicIs("t/1")); i != 11 || m.Payload != "11" {
		t.Errorf("WaitFor from 10 = %d %v, want 11 and payload 11", i, m)
	}
	if n := len(r.WaitLen(t, 50)); n != 50 {
		t.Errorf("WaitLen(50) returned %d messages", n)
	}
	for i := range 3 {
		if m := r.Next(t); m.Payload != strconv.Itoa(i) {
			t.Errorf("Next #%d = %q, want %d", i, m.Payload, i)
		}
	}
	if got := len(r.On("t/0")); got != 25 {
		t.Errorf("On(t/0) has %d messages, want 25", got)
	}
}
