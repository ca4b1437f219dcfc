package field

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{Invalid("addr", "nonsense", "is not HOST:PORT"), `addr: "nonsense" is not HOST:PORT`},
		{Invalid("max_queued", -1, "is out of range"), `max_queued: -1 is out of range`},
		{Invalid("block", -time.Second, "is negative"), `block: -1s is negative`},
		{Errorf("tls", "off on %q is unsafe", "0.0.0.0:1"), `tls: off on "0.0.0.0:1" is unsafe`},
		{Errorf("", "no topics"), `no topics`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestPrefix(t *testing.T) {
	err := errors.Join(
		Invalid("pattern", "a/#/b", "is not a filter"),
		errors.Join(Invalid("[2]", 3, "is not a QoS"), nil),
		fmt.Errorf("wrapped: %w", Errorf("qos", "bad")),
		errors.New("no path"),
	)
	got := Prefix(Index("uplinks", 1), Prefix("topics", err))
	var paths []string
	for _, e := range Leaves(got) {
		var fe *Error
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *Error", e)
		}
		paths = append(paths, fe.Field())
	}
	want := []string{"uplinks[1].topics.pattern", "uplinks[1].topics[2]", "uplinks[1].topics.qos", "uplinks[1].topics"}
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
	if Prefix("x", nil) != nil {
		t.Error("Prefix of nil is not nil")
	}
}

func ExamplePrefix() {
	validateTopic := func(qos int) error {
		if qos > 2 {
			return Invalid("qos", qos, "is not a QoS; use 0, 1 or 2")
		}
		return nil
	}
	err := Prefix(Index("topics", 0), validateTopic(3))
	fmt.Println(err)
	// Output: topics[0].qos: 3 is not a QoS; use 0, 1 or 2
}
