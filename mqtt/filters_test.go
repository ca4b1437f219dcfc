package mqtt

import (
	"slices"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestSubscribeRefusesInvalidFilters: '+' and '#' stand alone in their
// level and '#' only last [MQTT-4.7.1-2] [MQTT-4.7.1-3]; a shared
// subscription names a group [MQTT-4.8.2-1]. An invalid filter gets SUBACK
// 0x8F on MQTT 5 and 0x80 on MQTT 3.1.1; the valid ones beside it are
// granted.
func TestSubscribeRefusesInvalidFilters(t *testing.T) {
	filters := []string{"a+/b", "a/#/b", "#a", "a/b#", "$share/g", "ok/#", "$share/g/ok/+"}
	for _, c := range []struct {
		version byte
		bad     byte
	}{{5, 0x8F}, {4, 0x80}} {
		e := startBroker(t, testConfig(t.TempDir()), nil)
		r := dialRaw(t, e.addr())
		r.Version = c.version
		r.Send(connectPacket("sub-invalid", "admin", "pw-admin", c.version))
		if pk, err := r.Recv(); err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
			t.Fatalf("v%d connect: %v %v", c.version, pk.ReasonCode, err)
		}
		sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 7, ProtocolVersion: c.version}
		for _, f := range filters {
			sub.Filters = append(sub.Filters, packets.Subscription{Filter: f, Qos: 1})
		}
		r.Send(sub)
		pk, err := r.Recv()
		if err != nil || pk.FixedHeader.Type != packets.Suback {
			t.Fatalf("v%d: no SUBACK: %v", c.version, err)
		}
		want := []byte{c.bad, c.bad, c.bad, c.bad, c.bad, 1, 1}
		if !slices.Equal(pk.ReasonCodes, want) {
			t.Errorf("v%d SUBACK %#v for %q, want %#v", c.version, pk.ReasonCodes, filters, want)
		}
	}
}

// TestDollarTopicsOnGatewayPaths: a filter starting with a wildcard does
// not match a topic starting with '$' [MQTT-4.7.2-1], also for shared
// subscriptions and for the gateway's own subscriptions (Broker.Subscribe),
// which mochi's index lets through.
func TestDollarTopicsOnGatewayPaths(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AllowAnonymous, cfg.AnonymousRole = true, "dollar"
	cfg.Roles = map[string]Role{"dollar": {Read: []string{"#", "$test/#"}}}
	e := startBroker(t, cfg, nil)

	got := make(chan string, 16)
	for _, f := range []string{"#", "+/x", "$test/#"} {
		unsub, err := e.b.Subscribe(f, func(topic string, _ []byte, _ bool, _ byte) { got <- f + " " + topic })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(unsub)
	}
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("shared", "", "", 5))
	r.MustRecv(packets.Connack)
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "$share/g/#"}}})
	if pk := r.MustRecv(packets.Suback); !slices.Equal(pk.ReasonCodes, []byte{0}) {
		t.Fatalf("SUBACK %v", pk.ReasonCodes)
	}

	for _, topic := range []string{"$test/x", "marker/x"} {
		if err := e.b.Publish("gw", topic, []byte("m"), false, 0); err != nil {
			t.Fatal(err)
		}
	}
	var inline []string
	for len(inline) < 3 {
		inline = append(inline, <-got)
	}
	if len(got) > 0 { // Publish returns after the inline deliveries
		inline = append(inline, <-got)
	}
	slices.Sort(inline)
	if want := []string{"# marker/x", "$test/# $test/x", "+/x marker/x"}; !slices.Equal(inline, want) {
		t.Errorf("Broker.Subscribe got %q, want %q", inline, want)
	}
	for {
		pk := r.MustRecv(packets.Publish)
		if pk.TopicName == "marker/x" {
			break
		}
		if pk.TopicName[0] == '$' {
			t.Fatalf("$share/g/# delivered %s", pk.TopicName)
		}
	}
}
