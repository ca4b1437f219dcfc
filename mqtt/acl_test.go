package mqtt

import (
	"log/slog"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
)

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

// TestDenyPlaceholderInLevel: a deny rule whose %c cannot be substituted
// (the client id is not one topic level) still denies, the whole level
// standing for any value, not the literal "p-+" that matches nothing.
func TestDenyPlaceholderInLevel(t *testing.T) {
	r := Role{Read: []string{"#"}, Write: []string{"#"}, Deny: []string{"secret/p-%c/#"}}
	a := newAccess("x", r, "u", "a/b")
	if a.canRead("secret/p-zz/t") || a.canWrite("secret/p-zz/t") || a.canRead("secret/p-zz/#") {
		t.Errorf("deny %q with client id %q lets secret/p-zz/t through (deny filters %q)", r.Deny[0], "a/b", a.deny)
	}
	if !a.canRead("public/t") {
		t.Error("the deny rule took everything")
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
