package mqtt

import (
	"log/slog"
	"strings"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
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

func TestACLRoles(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	admin := mustConnect(t, e.addr(), "adm", "admin")
	all, _ := subscribe(t, admin, "#", 1)

	dev := mustConnect(t, e.addr(), "dev1-c", "dev1")
	devAll, code := subscribe(t, dev, "#", 1)
	if code != 1 {
		t.Fatalf("device subscribe # granted %#x, want 1 (filtered per topic)", code)
	}
	if _, code := subscribe(t, dev, "devices/dev2/#", 1); code != 0x80 {
		t.Fatalf("device subscribe to another device: %#x, want 0x80", code)
	}
	if _, code := subscribe(t, dev, "$SYS/#", 0); code != 0x80 {
		t.Fatalf("device subscribe $SYS: %#x, want 0x80", code)
	}
	// Device writes its own tree; MQTT 3.1.1 writes elsewhere are acked and dropped.
	wait(t, dev.Publish("devices/dev2/t", 1, false, "intruder"))
	wait(t, dev.Publish("devices/dev1/t", 1, false, "mine"))
	if m := all.next(t); m.Topic() != "devices/dev1/t" {
		t.Fatalf("admin got %s first; denied publish was delivered", m.Topic())
	}
	// Admin publishes on another device's topic: dev1 (subscribed to #) must not get it.
	wait(t, admin.Publish("devices/dev2/t", 1, false, "x"))
	wait(t, admin.Publish("devices/dev1/in", 1, false, "y"))
	if m := devAll.next(t); m.Topic() != "devices/dev1/t" {
		t.Fatalf("dev got %s", m.Topic())
	}
	if m := devAll.next(t); m.Topic() != "devices/dev1/in" {
		t.Fatalf("dev got %s, want devices/dev1/in (devices/dev2/t must be filtered)", m.Topic())
	}

	// Operator: reads all, writes only actuator commands.
	op := mustConnect(t, e.addr(), "op-c", "op")
	wait(t, op.Publish("gw/sensors/t/state", 1, false, "fake"))
	wait(t, op.Publish("gw/actuators/led/set", 1, false, "on"))
	for {
		m := all.next(t)
		if m.Topic() == "gw/sensors/t/state" {
			t.Fatal("operator wrote a sensor topic")
		}
		if m.Topic() == "gw/actuators/led/set" {
			break
		}
	}
	// Viewer: $SYS readable, nothing writable (v5: PUBACK 0x87, SUBACK ok).
	view := mustConnect(t, e.addr(), "view-c", "view")
	sys, code := subscribe(t, view, "$SYS/broker/version", 0)
	if code != 0 {
		t.Fatalf("viewer $SYS subscribe: %#x", code)
	}
	if m := sys.next(t); string(m.Payload()) == "" {
		t.Fatal("empty $SYS/broker/version")
	}
	r := dialRaw(t, e.addr())
	r.send(connectPacket("view5", "view", "pw-view", 5))
	r.mustRecv(packets.Connack)
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "a", PacketID: 3, Payload: []byte("x")})
	if pk := r.mustRecv(packets.Pubrec); pk.ReasonCode != 0x87 {
		t.Fatalf("viewer QoS 2 publish: PUBREC %#x, want 0x87", pk.ReasonCode)
	}
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 4,
		Filters: packets.Subscriptions{{Filter: "x/#", Qos: 1}}})
	if pk := r.mustRecv(packets.Suback); len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] != 1 {
		t.Fatalf("viewer subscribe: %v", pk.ReasonCodes)
	}
	if !strings.Contains(e.logs.String(), "publish denied") {
		t.Error("denied publish not logged")
	}
}

func TestDollarTopicsNotMatchedByHash(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	admin := mustConnect(t, e.addr(), "adm", "admin")
	all, _ := subscribe(t, admin, "#", 0)
	wait(t, admin.Publish("marker", 0, false, "m"))
	for {
		m := all.next(t)
		if len(m.Topic()) > 0 && m.Topic()[0] == '$' {
			t.Fatalf("# delivered %s", m.Topic())
		}
		if m.Topic() == "marker" {
			break
		}
	}
	sys, _ := subscribe(t, admin, "$SYS/#", 0)
	if m := sys.next(t); m.Topic()[:4] != "$SYS" {
		t.Fatal(m.Topic())
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
