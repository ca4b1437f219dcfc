package mqtt

import (
	"log/slog"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
)

func TestCoversOverlaps(t *testing.T) {
	for _, c := range []struct {
		f, s             string
		covers, overlaps bool
	}{
		{"#", "a/b", true, true},
		{"#", "$SYS/x", false, false},
		{"+/x", "$SYS/x", false, false},
		{"$SYS/#", "$SYS/broker/uptime", true, true},
		{"a/#", "a", true, true},
		{"a/+", "a/b", true, true},
		{"a/+", "a/b/c", false, false},
		{"a/+", "a/#", false, true},
		{"devices/d1/#", "#", false, true},
		{"devices/d1/#", "devices/+/x", false, true},
		{"devices/d1/#", "devices/d2/x", false, false},
		{"a/b", "a/b", true, true},
		{"a/b", "a/c", false, false},
		{"+/actuators/+/set", "gw/actuators/led/set", true, true},
		{"+/actuators/+/set", "gw/sensors/t/state", false, false},
		{"#", "#", true, true},
		{"+", "$x", false, false},
	} {
		if got := covers(c.f, c.s); got != c.covers {
			t.Errorf("covers(%q, %q) = %v", c.f, c.s, got)
		}
		if got := overlaps(c.f, c.s); got != c.overlaps {
			t.Errorf("overlaps(%q, %q) = %v", c.f, c.s, got)
		}
	}
}

func TestSubstitution(t *testing.T) {
	r := Role{Read: []string{"devices/%u/#", "clients/%c/#"}, Write: []string{"devices/%u/out"}, Deny: []string{"devices/%u/secret"}}
	a := newAccess("x", r, "d1", "cid")
	if !a.canRead("devices/d1/t") || !a.canRead("clients/cid/t") || a.canRead("devices/d2/t") {
		t.Error("read substitution wrong")
	}
	if !a.canWrite("devices/d1/out") || a.canWrite("devices/d1/secret") || a.canRead("devices/d1/secret") {
		t.Error("write/deny substitution wrong")
	}
	// A crafted username cannot reach into another user's tree.
	for _, bad := range []string{"d1/x", "+", "#", ""} {
		a := newAccess("x", r, bad, "cid")
		if a.canRead("devices/d1/x/t") || a.canWrite("devices/d1/x/out") || a.canRead("devices/+/t") {
			t.Errorf("username %q widened access", bad)
		}
		if len(a.deny) == 0 {
			t.Errorf("username %q dropped a deny rule", bad)
		}
	}
}

func BenchmarkACL(b *testing.B) {
	acl := newAccessTable(BuiltinRoles(), slog.New(slog.DiscardHandler))
	cl := &mochi.Client{ID: "cid"}
	acl.set(cl, newAccess("device", BuiltinRoles()["device"], "sensor-17", "cid"))
	h := &gateHook{access: acl}
	b.ReportAllocs()
	for b.Loop() {
		if !h.OnACLCheck(cl, "devices/sensor-17/temperature/state", false) || h.OnACLCheck(cl, "devices/other/x", false) {
			b.Fatal("wrong decision")
		}
	}
}

func TestACLCheckDoesNotAllocate(t *testing.T) {
	acl := newAccessTable(BuiltinRoles(), slog.New(slog.DiscardHandler))
	cl := &mochi.Client{ID: "cid"}
	acl.set(cl, newAccess("viewer", BuiltinRoles()["viewer"], "v", "cid"))
	h := &gateHook{access: acl}
	if n := testing.AllocsPerRun(100, func() { h.OnACLCheck(cl, "gw/sensors/t/state", false) }); n != 0 {
		t.Fatalf("ACL check allocates %v times", n)
	}
}
