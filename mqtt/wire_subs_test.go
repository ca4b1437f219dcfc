package mqtt

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Tests of the standard's subscription rules: Subscription Identifiers,
// retained messages and shared subscriptions.

func subIDs(pk packets.Packet) []int {
	ids := slices.Clone(pk.Properties.SubscriptionIdentifier)
	slices.Sort(ids)
	return ids
}

// [MQTT-3.3.4-3], [MQTT-3.3.4-4]: a message delivered because of
// subscriptions that carried Subscription Identifiers carries them, all of
// them when one copy is sent for overlapping subscriptions; this holds for
// QoS 0, for QoS 1/2 (routed by the gateway itself before the PUBACK), and
// for retained messages sent on subscribe.
func TestSubscriptionIdentifiersOnEveryDelivery_MQTT_3_3_4_3_4(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	pub.publish("sid/r", "kept", 1, true, 1, packets.Properties{})
	pub.expect(packets.Puback)

	sub := mustDialWire(t, e.addr(), "sub", "admin", 5, nil)
	sub.subscribeProps(1, packets.Properties{SubscriptionIdentifier: []int{7}}, packets.Subscription{Filter: "sid/r", Qos: 1})
	pk := sub.expect(packets.Publish)
	if !pk.FixedHeader.Retain || fmt.Sprint(subIDs(pk)) != "[7]" {
		t.Errorf("retained on subscribe: retain %v, identifiers %v, want [7]", pk.FixedHeader.Retain, subIDs(pk))
	}
	sub.ack(pk)
	sub.subscribeProps(2, packets.Properties{SubscriptionIdentifier: []int{9}}, packets.Subscription{Filter: "sid/#", Qos: 2, RetainHandling: 2})
	sub.subscribe(3, packets.Subscription{Filter: "sid/+/none", Qos: 0}) // no identifier

	for qos := byte(0); qos <= 2; qos++ {
		pub.publish("sid/r", fmt.Sprint(qos), qos, false, uint16(10+qos), packets.Properties{})
		switch qos {
		case 1:
			pub.expect(packets.Puback)
		case 2:
			pub.expect(packets.Pubrec)
			pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 12})
			pub.expect(packets.Pubcomp)
		}
		pk := sub.expect(packets.Publish)
		if fmt.Sprint(subIDs(pk)) != "[7 9]" {
			t.Errorf("QoS %d: one copy for two overlapping subscriptions carries identifiers %v, want [7 9]", qos, subIDs(pk))
		}
		sub.ack(pk)
	}
	// Only the subscription with an identifier matches: only it is sent;
	// one without any adds none (an identifier 0 does not exist).
	pub.publish("sid/x/none", "n", 1, false, 20, packets.Properties{})
	pub.expect(packets.Puback)
	pk = sub.expect(packets.Publish)
	if fmt.Sprint(subIDs(pk)) != "[9]" {
		t.Errorf("identifiers %v, want [9]", subIDs(pk))
	}
	sub.ack(pk)
}

// Section 3.3.1.3: Retain As Published [MQTT-3.3.1-12, -13] and Retain
// Handling 0, 1, 2 [MQTT-3.3.1-9, -10, -11]; no retained messages for a
// shared subscription (section 4.8.2).
func TestRetainAsPublishedAndRetainHandling_3_3_1_3(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	pub.publish("ret/a", "kept", 1, true, 1, packets.Properties{})
	pub.expect(packets.Puback)

	// Retain Handling 0: sent at every subscribe.
	rh0 := mustDialWire(t, e.addr(), "rh0", "admin", 5, nil)
	for i := range 2 {
		rh0.subscribe(uint16(i+1), packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 0})
		if pk := rh0.expect(packets.Publish); !pk.FixedHeader.Retain || string(pk.Payload) != "kept" {
			t.Fatalf("Retain Handling 0, subscribe %d: got %q retain %v", i, pk.Payload, pk.FixedHeader.Retain)
		} else {
			rh0.ack(pk)
		}
	}
	// Retain Handling 1: only if the subscription did not exist.
	rh1 := mustDialWire(t, e.addr(), "rh1", "admin", 5, nil)
	rh1.subscribe(1, packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 1})
	rh1.ack(rh1.expect(packets.Publish))
	rh1.subscribe(2, packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 1})
	// Retain Handling 2: never; shared subscription: never.
	rh2 := mustDialWire(t, e.addr(), "rh2", "admin", 5, nil)
	rh2.subscribe(1, packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 2})
	shared := mustDialWire(t, e.addr(), "shared", "admin", 5, nil)
	shared.subscribe(1, packets.Subscription{Filter: "$share/g/ret/#", Qos: 1})

	// Retain As Published: a live retained message keeps its flag only
	// for subscriptions that ask for it.
	rap := mustDialWire(t, e.addr(), "rap", "admin", 5, nil)
	rap.subscribe(1, packets.Subscription{Filter: "ret/#", Qos: 1, RetainHandling: 2, RetainAsPublished: true})
	pub.publish("ret/b", "live", 1, true, 2, packets.Properties{})
	pub.expect(packets.Puback)
	for _, c := range []struct {
		w    *wire
		name string
		rap  bool
	}{{rh0, "rh0", false}, {rh1, "rh1", false}, {rh2, "rh2", false}, {shared, "shared", false}, {rap, "rap", true}} {
		pk := c.w.expect(packets.Publish)
		if string(pk.Payload) != "live" {
			t.Errorf("%s: got %q first, want the live message (a retained one was sent that should not be)", c.name, pk.Payload)
			continue
		}
		if pk.FixedHeader.Retain != c.rap {
			t.Errorf("%s: live message retain flag %v, want %v", c.name, pk.FixedHeader.Retain, c.rap)
		}
		c.w.ack(pk)
	}
}

// [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error:
// the server closes the connection with DISCONNECT 0x82 (section 4.13;
// 0x82 is not a SUBACK reason code).
func TestNoLocalOnSharedSubscriptionIsProtocolError_MQTT_3_8_3_4(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	w := mustDialWire(t, e.addr(), "nl", "admin", 5, nil)
	w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "$share/g/a", Qos: 1, NoLocal: true}}})
	got := w.expectClose(20 * time.Second)
	if len(got) != 1 || got[0].FixedHeader.Type != packets.Disconnect || got[0].ReasonCode != packets.ErrProtocolViolation.Code {
		t.Errorf("got packets %v (first reason %#x), want DISCONNECT 0x82", types(got), firstReason(got))
	}
}

func firstReason(pks []packets.Packet) byte {
	if len(pks) == 0 {
		return 0
	}
	if len(pks[0].ReasonCodes) > 0 {
		return pks[0].ReasonCodes[0]
	}
	return pks[0].ReasonCode
}
