package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Tests of the MQTT 5.0 standard's rules for acknowledgements and message
// properties, on the wire against the real broker.

// checkAck fails unless pk is an acknowledgement of type typ for id with a
// success reason code allowed for it and no properties: an ack is not an
// echo of the message (section 3.4.2.2: a Reason String and User
// Properties are for diagnostics).
func checkAck(t *testing.T, pk packets.Packet, typ byte, id uint16, allowed ...byte) {
	t.Helper()
	if pk.FixedHeader.Type != typ || pk.PacketID != id {
		t.Fatalf("got type %d id %d, want type %d id %d", pk.FixedHeader.Type, pk.PacketID, typ, id)
	}
	ok := false
	for _, c := range allowed {
		ok = ok || pk.ReasonCode == c
	}
	if !ok {
		t.Errorf("type %d id %d: reason code %#x, want one of % #x", typ, id, pk.ReasonCode, allowed)
	}
	if len(pk.Properties.User) > 0 || pk.Properties.ReasonString != "" {
		t.Errorf("type %d id %d: successful ack carries user properties %v / reason string %q, want none",
			typ, id, pk.Properties.User, pk.Properties.ReasonString)
	}
}

// Sections 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1: the success reason codes of
// PUBACK and PUBREC are 0x00 and 0x10 (no matching subscribers), of PUBREL
// and PUBCOMP 0x00. 0x01 is a SUBACK code (granted QoS 1), not a PUBACK one.
func TestAckReasonCodesAreSuccessCodes_3_4_2_1(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	sub := mustDialWire(t, e.addr(), "sub", "admin", 5, nil)
	ack := sub.subscribeProps(1, packets.Properties{User: []packets.UserProperty{{Key: "k", Val: "v"}}},
		packets.Subscription{Filter: "acks/#", Qos: 2})
	if len(ack.Properties.User) > 0 || ack.Properties.ReasonString != "" {
		t.Errorf("SUBACK carries %v / %q, want no properties", ack.Properties.User, ack.Properties.ReasonString)
	}
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	meta := packets.Properties{User: []packets.UserProperty{{Key: "trace", Val: "abc"}}}

	pub.publish("acks/q1", "one", 1, false, 11, meta)
	checkAck(t, pub.expect(packets.Puback), packets.Puback, 11, 0x00) // a subscriber matches: 0x10 would be false
	pub.publish("none/q1", "one", 1, false, 12, meta)
	checkAck(t, pub.expect(packets.Puback), packets.Puback, 12, 0x00, 0x10)

	pub.publish("acks/q2", "two", 2, false, 13, meta)
	checkAck(t, pub.expect(packets.Pubrec), packets.Pubrec, 13, 0x00)
	pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 13})
	checkAck(t, pub.expect(packets.Pubcomp), packets.Pubcomp, 13, 0x00)

	// The subscriber's side: PUBREL from the server answers its PUBREC.
	for _, want := range []byte{1, 2} {
		pk := sub.expect(packets.Publish)
		if pk.FixedHeader.Qos != want {
			t.Fatalf("delivery QoS %d, want %d", pk.FixedHeader.Qos, want)
		}
		if userProp(pk, "trace") != "abc" {
			t.Errorf("delivery lost the message's user property: %v", pk.Properties.User)
		}
		if want == 1 {
			sub.ack(pk)
			continue
		}
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
		checkAck(t, sub.expect(packets.Pubrel), packets.Pubrel, pk.PacketID, 0x00)
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: pk.PacketID})
	}
}

// [MQTT-3.1.2-29]: with Request Problem Information 0 the server MUST NOT
// send a Reason String or User Properties on any packet other than
// PUBLISH, CONNACK or DISCONNECT; with 1 it may explain a refusal.
// PUBLISH keeps its User Properties either way (they belong to the
// message, [MQTT-3.3.2-17]).
func TestReasonStringOnlyOnFailureAndIfAllowed_MQTT_3_1_2_29(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	noInfo := func(pk *packets.Packet) {
		pk.Properties.RequestProblemInfo, pk.Properties.RequestProblemInfoFlag = 0, true
	}
	sub := mustDialWire(t, e.addr(), "sub-noinfo", "admin", 5, noInfo)
	ack := sub.subscribeProps(1, packets.Properties{User: []packets.UserProperty{{Key: "k", Val: "v"}}},
		packets.Subscription{Filter: "info/#", Qos: 1})
	if len(ack.Properties.User) > 0 || ack.Properties.ReasonString != "" {
		t.Errorf("SUBACK carries %v / %q, want no properties", ack.Properties.User, ack.Properties.ReasonString)
	}

	viewer := mustDialWire(t, e.addr(), "viewer-noinfo", "view", 5, noInfo)
	viewer.publish("info/x", "denied", 1, false, 7, packets.Properties{})
	pk := viewer.expect(packets.Puback)
	if pk.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("PUBACK %#x for a denied publish, want 0x87", pk.ReasonCode)
	}
	if pk.Properties.ReasonString != "" || len(pk.Properties.User) > 0 {
		t.Errorf("PUBACK to a client with Request Problem Information 0 carries %q / %v", pk.Properties.ReasonString, pk.Properties.User)
	}

	// Request Problem Information 1 (the default): a refusal may say why.
	viewer2 := mustDialWire(t, e.addr(), "viewer-info", "view", 5, nil)
	viewer2.publish("info/x", "denied", 1, false, 8, packets.Properties{})
	if pk := viewer2.expect(packets.Puback); pk.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("PUBACK %#x for a denied publish, want 0x87", pk.ReasonCode)
	}

	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	pub.publish("info/y", "ok", 1, false, 9, packets.Properties{User: []packets.UserProperty{{Key: "unit", Val: "C"}}})
	checkAck(t, pub.expect(packets.Puback), packets.Puback, 9, 0x00)
	got := sub.expect(packets.Publish)
	if userProp(got, "unit") != "C" {
		t.Errorf("subscriber with Request Problem Information 0 got user properties %v, want the message's unit=C", got.Properties.User)
	}
}

// [MQTT-3.3.2-6]: the PUBLISH sent to a subscriber carries a Message Expiry
// Interval only if the publisher set one, reduced by the time the message
// waited in the server. The broker must not add one.
func TestMessageExpiryOnlyWhenSetAndReduced_MQTT_3_3_2_6(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	sub := mustDialWire(t, e.addr(), "sub", "admin", 5, nil)
	sub.subscribe(1, packets.Subscription{Filter: "exp/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)

	for qos := byte(0); qos < 2; qos++ {
		pub.publish("exp/none", "x", qos, false, 1, packets.Properties{})
		if qos == 1 {
			pub.expect(packets.Puback)
		}
		pk := sub.expect(packets.Publish)
		if pk.Properties.MessageExpiryInterval != 0 {
			t.Errorf("QoS %d message published without expiry arrived with Message Expiry Interval %d", qos, pk.Properties.MessageExpiryInterval)
		}
		sub.ack(pk)
	}

	pub.publish("exp/set", "x", 1, true, 2, packets.Properties{MessageExpiryInterval: 100})
	pub.expect(packets.Puback)
	pk := sub.expect(packets.Publish)
	if v := pk.Properties.MessageExpiryInterval; v == 0 || v > 100 {
		t.Errorf("live delivery: Message Expiry Interval %d, want 1..100", v)
	}
	sub.ack(pk)

	// The retained copy waits in the server: a later subscriber sees the
	// interval reduced by the waiting time (whole seconds).
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for i := uint16(10); ; i++ {
		late := mustDialWire(t, e.addr(), "late", "admin", 5, nil)
		late.subscribe(i, packets.Subscription{Filter: "exp/set", Qos: 1})
		pk := late.expect(packets.Publish)
		v := pk.Properties.MessageExpiryInterval
		late.conn.Close()
		if v == 0 || v > 100 {
			t.Fatalf("retained delivery: Message Expiry Interval %d, want 1..100", v)
		}
		if v < 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retained message's Message Expiry Interval not reduced after 10 s in the server")
		}
		<-poll.C
	}
}
