package gatetest

import (
	"fmt"
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

func TestArrivals(t *testing.T) {
	var a Arrivals
	for _, n := range []int{0, 1, 1, 2} { // 1 resent
		a.Add("a", n)
	}
	for _, n := range []int{0, 2, 1} { // 2 overtook 1
		a.Add("b", n)
	}
	if got := a.Received(); got != 7 {
		t.Errorf("Received = %d, want 7", got)
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
