package mqtt

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Section 3.3.2.3.4, [MQTT-3.3.2-11]: the server may replace a topic it
// sends repeatedly by a Topic Alias, never above the Topic Alias Maximum
// the client declared in CONNECT (none if it declared 0). The client
// resolves every alias to the topic published, in order.
func TestTopicAliasesWithinClientMaximum_MQTT_3_3_2_11(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	const max = 2
	aliased := mustDialWire(t, e.addr(), "aliased", "admin", 5, func(pk *packets.Packet) { pk.Properties.TopicAliasMaximum = max })
	aliased.subscribe(1, packets.Subscription{Filter: "alias/#", Qos: 1})
	plain := mustDialWire(t, e.addr(), "plain", "admin", 5, nil)
	plain.subscribe(1, packets.Subscription{Filter: "alias/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)

	var want []string
	for round := range 4 {
		for _, topic := range []string{"alias/aaaa", "alias/bbbb", "alias/cccc"} {
			qos := byte(round % 2)
			pub.publish(topic, fmt.Sprint(round), qos, false, uint16(len(want)+1), packets.Properties{})
			if qos == 1 {
				pub.expect(packets.Puback)
			}
			want = append(want, topic)
		}
	}
	known := map[uint16]string{}
	aliasOnly := 0
	for i, topic := range want {
		pk := aliased.expect(packets.Publish)
		aliased.ack(pk)
		got := pk.TopicName
		if pk.Properties.TopicAliasFlag {
			a := pk.Properties.TopicAlias
			if a == 0 || a > max {
				t.Fatalf("message %d: Topic Alias %d, outside 1..%d", i, a, max)
			}
			if got == "" {
				got = known[a]
				aliasOnly++
			} else {
				known[a] = got
			}
		}
		if got != topic {
			t.Fatalf("message %d: resolves to topic %q, want %q", i, got, topic)
		}
		pk = plain.expect(packets.Publish)
		plain.ack(pk)
		if pk.Properties.TopicAliasFlag || pk.TopicName != topic {
			t.Fatalf("client without Topic Alias Maximum: message %d has topic %q alias %d", i, pk.TopicName, pk.Properties.TopicAlias)
		}
	}
	if aliasOnly == 0 {
		t.Error("no message used an alias alone: topic aliases not used")
	}
}

// FuzzAliasRewrite: whatever the bytes, rewrite does not panic; a run of
// valid PUBLISH packets resolves, after rewriting, to the same topics,
// payloads and packet ids.
func FuzzAliasRewrite(f *testing.F) {
	enc := func(topic string, qos byte, id uint16, payload string, props packets.Properties) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: 5,
			TopicName: topic, PacketID: id, Payload: []byte(payload), Properties: props}
		var b bytes.Buffer
		if err := pk.PublishEncode(&b); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	one := enc("a/topic", 1, 7, "x", packets.Properties{User: []packets.UserProperty{{Key: "k", Val: "v"}}, MessageExpiryInterval: 9})
	f.Add(append(append(one, one...), enc("b/topic", 0, 0, "y", packets.Properties{SubscriptionIdentifier: []int{300}})...), uint16(2))
	f.Add(enc("c/topic", 2, 1, "", packets.Properties{ContentType: "t"}), uint16(1))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff}, uint16(3))
	f.Fuzz(func(t *testing.T, b []byte, max uint16) {
		in := append([]byte(nil), b...)
		out := newOutAliases(max, 0).rewrite(b)
		if !bytes.Equal(b, in) {
			t.Fatal("rewrite changed its input")
		}
		want, ok := decodePublishes(in, nil)
		if !ok {
			return
		}
		got, ok := decodePublishes(out, map[uint16]string{})
		if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rewritten stream decodes to %v (ok %v), want %v", got, ok, want)
		}
	})
}

// decodePublishes decodes a run of MQTT 5 PUBLISH packets into
// "topic id payload" strings, resolving aliases if aliases is not nil.
func decodePublishes(b []byte, aliases map[uint16]string) ([]string, bool) {
	var out []string
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		var pk packets.Packet
		c, _ := r.ReadByte()
		if pk.FixedHeader.Decode(c) != nil || pk.FixedHeader.Type != packets.Publish {
			return nil, false
		}
		n, _, err := packets.DecodeLength(r)
		if err != nil || n > r.Len() {
			return nil, false
		}
		body := make([]byte, n)
		_, _ = r.Read(body)
		pk.ProtocolVersion = 5
		if pk.PublishDecode(body) != nil {
			return nil, false
		}
		topic := pk.TopicName
		if aliases != nil && pk.Properties.TopicAliasFlag {
			if topic == "" {
				topic = aliases[pk.Properties.TopicAlias]
			} else {
				aliases[pk.Properties.TopicAlias] = topic
			}
		}
		out = append(out, fmt.Sprintf("%q %d %q", topic, pk.PacketID, pk.Payload))
	}
	return out, true
}

// [MQTT-3.1.2-27]: a client that declared no Topic Alias Maximum gets no
// Topic Alias, also when the publisher used one (its alias belongs to its
// own connection, [MQTT-3.3.2-7]), live or retained.
func TestNoTopicAliasWithoutClientMaximum_MQTT_3_1_2_27(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	sub := mustDialWire(t, e.addr(), "plain", "admin", 5, nil)
	sub.subscribe(1, packets.Subscription{Filter: "pa/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	alias := packets.Properties{TopicAlias: 1, TopicAliasFlag: true}
	pub.publish("pa/topic", "0", 0, true, 0, alias)
	pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2,
		Payload: []byte("1"), Properties: alias}) // alias only
	pub.expect(packets.Puback)
	for i := range 2 {
		pk := sub.expect(packets.Publish)
		sub.ack(pk)
		if pk.Properties.TopicAliasFlag || pk.TopicName != "pa/topic" {
			t.Errorf("live message %d: topic %q, alias %v %d", i, pk.TopicName, pk.Properties.TopicAliasFlag, pk.Properties.TopicAlias)
		}
	}
	late := mustDialWire(t, e.addr(), "late", "admin", 5, nil)
	late.subscribe(1, packets.Subscription{Filter: "pa/#", Qos: 1})
	if pk := late.expect(packets.Publish); pk.Properties.TopicAliasFlag || pk.TopicName != "pa/topic" {
		t.Errorf("retained message: topic %q, alias %v %d", pk.TopicName, pk.Properties.TopicAliasFlag, pk.Properties.TopicAlias)
	}
}
