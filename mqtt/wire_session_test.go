package mqtt

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// Tests of the standard's connection rules: keep alive, flow control,
// malformed packets and how the server ends a connection.

// [MQTT-3.2.2-21]: a Server Keep Alive in CONNACK replaces the client's
// value; the broker sends one when the client asks for no keep alive (0)
// or more than mqtt.max_keepalive, and then closes a silent connection
// after one and a half times that value [MQTT-3.1.2-22].
func TestServerKeepAlive_MQTT_3_2_2_21(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxKeepalive = 2 * time.Second
	e := startBroker(t, cfg, nil)
	for _, c := range []struct {
		ask, want uint16
		flag      bool
	}{{0, 2, true}, {60, 2, true}, {2, 0, false}, {1, 0, false}} {
		_, ack := dialWire(t, e.addr(), fmt.Sprintf("ka-%d", c.ask), "admin", 5, func(pk *packets.Packet) { pk.Connect.Keepalive = c.ask })
		if ack.ReasonCode != 0 || ack.Properties.ServerKeepAliveFlag != c.flag || ack.Properties.ServerKeepAlive != c.want {
			t.Errorf("keep alive %d: CONNACK %#x Server Keep Alive %v %d, want %v %d", c.ask, ack.ReasonCode,
				ack.Properties.ServerKeepAliveFlag, ack.Properties.ServerKeepAlive, c.flag, c.want)
		}
	}
	// Enforced: a client that asked for 0 and then stays silent is closed
	// after 1.5 x 2 s.
	w, _ := dialWire(t, e.addr(), "silent", "admin", 5, func(pk *packets.Packet) { pk.Connect.Keepalive = 0 })
	start := time.Now()
	w.expectClose(20 * time.Second)
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Errorf("closed after %s, before 1.5 x the Server Keep Alive of 2 s", d)
	}
	// MQTT 3.1.1 has no Server Keep Alive: its keep alive is left as asked.
	_, ack := dialWire(t, e.addr(), "v3", "admin", 4, func(pk *packets.Packet) { pk.Connect.Keepalive = 0 })
	if ack.ReasonCode != 0 {
		t.Fatalf("3.1.1 CONNACK %#x", ack.ReasonCode)
	}
}

// [MQTT-3.3.4-9]: the server sends no more than the client's Receive
// Maximum of unacknowledged QoS 1/2 PUBLISHes, and every message still
// arrives, in order, as the client acknowledges.
func TestReceiveMaximumAllArriveInOrder_MQTT_3_3_4_9(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	sub := mustDialWire(t, e.addr(), "sub", "admin", 5, func(pk *packets.Packet) { pk.Properties.ReceiveMaximum = 2 })
	sub.subscribe(1, packets.Subscription{Filter: "rm/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), "pub", "admin", 5, nil)
	for i := range 5 {
		pub.publish("rm/x", fmt.Sprint(i), 1, false, uint16(i+1), packets.Properties{})
		pub.expect(packets.Puback)
	}
	var held []packets.Packet
	for range 2 {
		held = append(held, sub.expect(packets.Publish))
	}
	sub.expectSilence(300 * time.Millisecond) // a third would exceed Receive Maximum 2
	var got []string
	for len(got) < 5 {
		pk := held[0]
		held = held[1:]
		got = append(got, string(pk.Payload))
		sub.ack(pk)
		if len(got)+len(held) < 5 {
			held = append(held, sub.expect(packets.Publish))
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("got %v, want [0 1 2 3 4]", got)
	}
}

// Section 4.13.1 / [MQTT-3.3.4-8]: a client that sends more unacknowledged
// QoS 2 PUBLISHes than the CONNACK's Receive Maximum gets DISCONNECT 0x93.
// The client must be able to read it: the server stops writing and closes
// gracefully (no reset while the client's data is unread). An MQTT 3.1.1
// client has no DISCONNECT from the server: the connection just closes
// [MQTT-3.14].
func TestDisconnectReasonReachesClient_ReceiveMaximumExceeded(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	for _, v := range []byte{5, 4} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			w, ack := dialWire(t, e.addr(), fmt.Sprintf("flood-%d", v), "admin", v, nil)
			max := int(ack.Properties.ReceiveMaximum)
			if v == 4 {
				max = 1024 // what the v5 client was told
			}
			var burst []byte
			for i := range max + 500 {
				pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, ProtocolVersion: v,
					TopicName: "flood/x", Payload: []byte("x"), PacketID: uint16(i + 1)}
				b, err := gatetest.Encode(pk)
				if err != nil {
					t.Fatal(err)
				}
				burst = append(burst, b...)
			}
			go func() { _, _ = w.conn.Write(burst) }()
			var got []packets.Packet
			var err error
			for {
				var pk packets.Packet
				pk, err = w.recv(20 * time.Second)
				if err != nil {
					break
				}
				got = append(got, pk)
			}
			if !errors.Is(err, io.EOF) {
				t.Errorf("connection ended with %v after %d packets, want a clean close (EOF)", err, len(got))
			}
			var disc []packets.Packet
			for _, pk := range got {
				if pk.FixedHeader.Type == packets.Disconnect {
					disc = append(disc, pk)
				}
			}
			switch {
			case v == 5 && (len(disc) != 1 || disc[0].ReasonCode != packets.ErrReceiveMaximum.Code):
				t.Errorf("MQTT 5: got DISCONNECTs %v, want one with 0x93", disc)
			case v == 4 && len(disc) > 0:
				t.Errorf("MQTT 3.1.1: got a DISCONNECT (reason %#x); 3.1.1 servers only close [MQTT-3.14]", disc[0].ReasonCode)
			}
			if errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("connection reset by the server")
			}
		})
	}
}

// [MQTT-3.1.2-11], [MQTT-3.1.2-13]: with Will Flag 0, Will QoS and Will
// Retain must be 0; otherwise the CONNECT is a protocol error (MQTT 5:
// CONNACK 0x82; 3.1.1 has no such code: the connection is closed).
func TestWillQoSOrRetainWithoutWillFlag_MQTT_3_1_2_11_13(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	for _, v := range []byte{5, 4} {
		for _, c := range []struct {
			name string
			edit func(*packets.Packet)
		}{
			{"qos", func(pk *packets.Packet) { pk.Connect.WillQos = 1 }},
			{"retain", func(pk *packets.Packet) { pk.Connect.WillRetain = true }},
		} {
			t.Run(fmt.Sprintf("v%d-%s", v, c.name), func(t *testing.T) {
				w := dialRawWire(t, e.addr(), v)
				pk := connectPacket("will-"+c.name, "admin", "pw-admin", v)
				c.edit(&pk)
				w.send(pk)
				got := w.expectClose(20 * time.Second)
				if v == 5 && (len(got) != 1 || got[0].FixedHeader.Type != packets.Connack || got[0].ReasonCode != packets.ErrProtocolViolation.Code) {
					t.Errorf("got %v, want CONNACK 0x82 then close", types(got))
				}
				if v == 4 && len(got) > 0 {
					t.Errorf("got %v (reason %#x), want the connection closed", types(got), got[0].ReasonCode)
				}
			})
		}
	}
}

// Section 3.12.1: PINGREQ has no variable header nor payload; one with a
// body is malformed and the connection is closed, without PINGRESP (MQTT 5
// may be told 0x81 first) [MQTT-4.13.1-1].
func TestPingreqWithBodyIsMalformed_MQTT_3_12(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	for _, v := range []byte{5, 4} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			w := mustDialWire(t, e.addr(), fmt.Sprintf("ping-%d", v), "admin", v, nil)
			w.sendBytes([]byte{packets.Pingreq << 4, 1, 0})
			for _, pk := range w.expectClose(20 * time.Second) {
				switch {
				case pk.FixedHeader.Type == packets.Disconnect && v == 5 && pk.ReasonCode == packets.ErrMalformedPacket.Code:
				default:
					t.Errorf("got packet type %d (reason %#x), want the connection closed", pk.FixedHeader.Type, pk.ReasonCode)
				}
			}
		})
	}
}

// [MQTT-3.14]: 3.1.1 has no DISCONNECT from the server. A 3.1.1 client
// whose session is taken over is closed without one [MQTT-3.1.4-3].
func TestNoServerDisconnectForMQTT311_MQTT_3_14(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	first := mustDialWire(t, e.addr(), "same", "admin", 4, nil)
	mustDialWire(t, e.addr(), "same", "admin", 4, nil)
	if got := first.expectClose(20 * time.Second); len(got) > 0 {
		t.Errorf("taken-over 3.1.1 client got packet type %d (reason %#x), want the connection closed", got[0].FixedHeader.Type, got[0].ReasonCode)
	}
}

// mqtt.max_keepalive is whole seconds that fit the 16-bit Server Keep Alive.
func TestMaxKeepaliveValidation(t *testing.T) {
	for _, c := range []struct {
		v  time.Duration
		ok bool
	}{{0, true}, {time.Second, true}, {time.Hour, true}, {65535 * time.Second, true},
		{65536 * time.Second, false}, {1500 * time.Millisecond, false}, {-time.Second, false}} {
		cfg := testConfig(t.TempDir())
		cfg.MaxKeepalive = c.v
		err := cfg.Validate()
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "max_keepalive:")) {
			t.Errorf("max_keepalive %s: %v", c.v, err)
		}
	}
}

// [MQTT-3.3.4-9]: the client's own QoS 2 exchange (PUBLISH, PUBREC,
// PUBREL, PUBCOMP) is not an acknowledgement of the server's messages: a
// client with Receive Maximum 1 that has one unacknowledged message gets
// no second one when its own exchange completes.
func TestReceiveMaximumAfterOwnQoS2_MQTT_3_3_4_9(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	w := mustDialWire(t, e.addr(), "rm-q2", "admin", 5, func(c *packets.Packet) { c.Properties.ReceiveMaximum = 1 })
	w.subscribe(1, packets.Subscription{Filter: "cmd/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), "rm-q2-pub", "admin", 5, nil)
	for i, p := range []string{"A", "B"} {
		pub.publish("cmd/x", p, 1, false, uint16(i+1), packets.Properties{})
		pub.expect(packets.Puback)
	}
	a := w.expect(packets.Publish)
	for i := range 3 {
		id := uint16(500 + i)
		w.publish("readings/t", "21.5", 2, false, id, packets.Properties{})
		w.expect(packets.Pubrec)
		w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id})
		w.expect(packets.Pubcomp)
	}
	w.expectSilence(300 * time.Millisecond) // B would be a second unacknowledged message
	w.ack(a)
	b := w.expect(packets.Publish)
	if string(b.Payload) != "B" {
		t.Fatalf("got %q, want B", b.Payload)
	}
	// And the quota is whole again: with A and B acknowledged, C comes.
	w.ack(b)
	pub.publish("cmd/x", "C", 1, false, 3, packets.Properties{})
	if c := w.expect(packets.Publish); string(c.Payload) != "C" {
		t.Fatalf("got %q, want C", c.Payload)
	}
}

// Section 3.2.2.3.6: without a Maximum Packet Size in CONNACK a client may
// assume there is no limit, and then finds mqtt.max_packet_size by being
// disconnected. The CONNACK says the limit.
func TestConnackAnnouncesMaximumPacketSize_3_2_2_3_6(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxPacketSize = 4096
	e := startBroker(t, cfg, nil)
	_, ack := dialWire(t, e.addr(), "mps", "admin", 5, nil)
	if ack.ReasonCode != 0 || ack.Properties.MaximumPacketSize != 4096 {
		t.Fatalf("CONNACK %#x Maximum Packet Size %d, want 4096", ack.ReasonCode, ack.Properties.MaximumPacketSize)
	}
	// MQTT 3.1.1 has no properties: its CONNACK stays 4 bytes.
	w := dialRawWire(t, e.addr(), 4)
	w.send(connectPacket("mps-3", "admin", "pw-admin", 4))
	if ack := w.expect(packets.Connack); ack.FixedHeader.Remaining != 2 {
		t.Fatalf("3.1.1 CONNACK remaining length %d, want 2", ack.FixedHeader.Remaining)
	}
}
