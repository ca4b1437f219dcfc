package mqtt

import (
	"fmt"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Packet Identifiers are the client's and the server's own: "The Client
// and Server assign Packet Identifiers independently of each other. As a
// result, Client Server pairs can participate in concurrent message
// exchanges using the same Packet Identifiers" (MQTT 3.1.1 section
// 2.3.1, MQTT 5 section 2.2.1). A device that receives QoS 1 commands and
// publishes QoS 1 readings uses, with every common client library, the
// same small numbers as the server. These tests give the client a
// message from the server that it has not acknowledged yet, with Packet
// Identifier n, and then send their own packets with that same n.

// pendingDelivery connects a persistent session id subscribed to pid/#,
// publishes one QoS 1 message to it and returns the client with that
// message received and not acknowledged.
func pendingDelivery(t *testing.T, e *testEnv, id string, v byte, edit func(*packets.Packet)) (*wire, packets.Packet) {
	t.Helper()
	persistent := func(pk *packets.Packet) {
		pk.Connect.Clean = false
		if v == 5 {
			pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
		}
		if edit != nil {
			edit(pk)
		}
	}
	w := mustDialWire(t, e.addr(), id, "admin", v, persistent)
	w.subscribe(100, packets.Subscription{Filter: "pid/#", Qos: 1})
	pub := mustDialWire(t, e.addr(), id+"-pub", "admin", 5, nil)
	pub.publish("pid/cmd", "turn on", 1, false, 1, packets.Properties{})
	pub.expect(packets.Puback)
	pk := w.expect(packets.Publish)
	if pk.PacketID == 100 {
		t.Fatal("the server's Packet Identifier is the one the test uses for SUBSCRIBE")
	}
	return w, pk
}

// A SUBSCRIBE or UNSUBSCRIBE with the Packet Identifier of a message the
// server has in flight to the client is answered as any other: MQTT 3.1.1
// has no "identifier in use" code at all (SUBACK codes other than 0x00,
// 0x01, 0x02 and 0x80 "MUST NOT be used" [MQTT-3.9.3-2]), and in MQTT 5
// 0x91 means the client's own identifier is in use, which it is not.
func TestSubscribeWithServersPacketID_MQTT_3_9_3_2(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			w, pk := pendingDelivery(t, e, fmt.Sprintf("pid-sub-%d", v), v, nil)
			ack := w.subscribe(pk.PacketID, packets.Subscription{Filter: "other/#", Qos: 1})
			if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
				t.Fatalf("SUBACK %d codes %#x, want [0x01]", ack.PacketID, ack.ReasonCodes)
			}
			w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: pk.PacketID,
				Filters: packets.Subscriptions{{Filter: "other/#"}}})
			un := w.expect(packets.Unsuback)
			if un.PacketID != pk.PacketID || (v == 5 && (len(un.ReasonCodes) != 1 || un.ReasonCodes[0] != 0)) {
				t.Fatalf("UNSUBACK %d codes %#x, want %d [0x00]", un.PacketID, un.ReasonCodes, pk.PacketID)
			}
			// The server's message is still in flight: a reconnect gets it again.
			w.conn.Close()
			w2 := mustDialWire(t, e.addr(), fmt.Sprintf("pid-sub-%d", v), "admin", v, func(c *packets.Packet) { c.Connect.Clean = false })
			if re := w2.expect(packets.Publish); re.PacketID != pk.PacketID || string(re.Payload) != "turn on" || !re.FixedHeader.Dup {
				t.Fatalf("resent %d %q dup=%v, want %d %q dup=true", re.PacketID, re.Payload, re.FixedHeader.Dup, pk.PacketID, "turn on")
			}
		})
	}
}

// A QoS 1 or QoS 2 PUBLISH from the client with the Packet Identifier of
// a message the server has in flight to it is the client's own message:
// it is acknowledged with that identifier, and the server's message stays
// unacknowledged until the client's PUBACK for it [MQTT-4.3.2-1], so it is
// sent again when the client reconnects [MQTT-4.4.0-1].
func TestPublishWithServersPacketID_MQTT_4_3_2_1(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	for _, v := range []byte{4, 5} {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("v%d-qos%d", v, qos), func(t *testing.T) {
				id := fmt.Sprintf("pid-pub-%d-%d", v, qos)
				w, pk := pendingDelivery(t, e, id, v, nil)
				w.publish("readings/t", "21.5", qos, false, pk.PacketID, packets.Properties{})
				if qos == 1 {
					if ack := w.expect(packets.Puback); ack.PacketID != pk.PacketID || ack.ReasonCode != 0 {
						t.Fatalf("PUBACK %d %#x, want %d 0x00", ack.PacketID, ack.ReasonCode, pk.PacketID)
					}
				} else {
					if rec := w.expect(packets.Pubrec); rec.PacketID != pk.PacketID || rec.ReasonCode != 0 {
						t.Fatalf("PUBREC %d %#x, want %d 0x00", rec.PacketID, rec.ReasonCode, pk.PacketID)
					}
					w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: pk.PacketID})
					if comp := w.expect(packets.Pubcomp); comp.PacketID != pk.PacketID || comp.ReasonCode != 0 {
						t.Fatalf("PUBCOMP %d %#x, want %d 0x00", comp.PacketID, comp.ReasonCode, pk.PacketID)
					}
				}
				w.conn.Close()
				w2 := mustDialWire(t, e.addr(), id, "admin", v, func(c *packets.Packet) {
					c.Connect.Clean = false
					if v == 5 {
						c.Properties.SessionExpiryInterval, c.Properties.SessionExpiryIntervalFlag = 3600, true
					}
				})
				re := w2.expect(packets.Publish) // and no stale PUBACK or PUBCOMP first (dropStaleAcks)
				if re.PacketID != pk.PacketID || string(re.Payload) != "turn on" || !re.FixedHeader.Dup {
					t.Fatalf("resent %d %q dup=%v, want %d %q dup=true", re.PacketID, re.Payload, re.FixedHeader.Dup, pk.PacketID, "turn on")
				}
				w2.ack(re)
			})
		}
	}
}

// With a Receive Maximum of 1 the server sends the next message only once
// the client has acknowledged the one before [MQTT-3.3.4-9]; the client's
// own PUBLISH with the same Packet Identifier in between does not stand
// for that acknowledgement, nor does it eat the one that follows.
func TestReceiveMaximumAfterSamePacketID_MQTT_3_3_4_9(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	w, pk := pendingDelivery(t, e, "pid-rm", 5, func(c *packets.Packet) { c.Properties.ReceiveMaximum = 1 })
	pub := mustDialWire(t, e.addr(), "pid-rm-pub2", "admin", 5, nil)
	pub.publish("pid/cmd", "turn off", 1, false, 1, packets.Properties{})
	pub.expect(packets.Puback)
	w.publish("readings/t", "21.5", 1, false, pk.PacketID, packets.Properties{})
	w.expect(packets.Puback)
	w.expectSilence(200 * time.Millisecond) // "turn on" is still unacknowledged
	w.ack(pk)
	if next := w.expect(packets.Publish); string(next.Payload) != "turn off" {
		t.Fatalf("got %q, want %q", next.Payload, "turn off")
	}
}

// A QoS 2 exchange of the client's that shares its identifier with the
// server's message survives a restart of the gateway between PUBREC and
// PUBREL: both sides' exchanges resume with their own identifiers.
func TestQoS2ExchangeWithServersPacketIDAcrossRestart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	e := startBroker(t, cfg, nil)
	w, pk := pendingDelivery(t, e, "pid-restart", 4, nil)
	w.publish("readings/t", "21.5", 2, false, pk.PacketID, packets.Properties{})
	if rec := w.expect(packets.Pubrec); rec.PacketID != pk.PacketID {
		t.Fatalf("PUBREC %d, want %d", rec.PacketID, pk.PacketID)
	}
	w.conn.Close()
	e.stop()

	e2 := startBroker(t, cfg, e.logins)
	w2 := mustDialWire(t, e2.addr(), "pid-restart", "admin", 4, func(c *packets.Packet) { c.Connect.Clean = false })
	var resent, pubrec bool
	for !resent || !pubrec {
		got, err := w2.recv(20 * time.Second)
		if err != nil {
			t.Fatalf("after restart (resent %v, PUBREC %v): %v", resent, pubrec, err)
		}
		switch {
		case got.FixedHeader.Type == packets.Publish && got.PacketID == pk.PacketID && string(got.Payload) == "turn on":
			resent = true
		case got.FixedHeader.Type == packets.Pubrec && got.PacketID == pk.PacketID:
			pubrec = true
		default:
			t.Fatalf("after restart: packet type %d id %d, want PUBLISH and PUBREC %d", got.FixedHeader.Type, got.PacketID, pk.PacketID)
		}
	}
	w2.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: pk.PacketID})
	if comp := w2.expect(packets.Pubcomp); comp.PacketID != pk.PacketID {
		t.Fatalf("PUBCOMP %d, want %d", comp.PacketID, pk.PacketID)
	}
	w2.ack(pk)
	w2.expectSilence(200 * time.Millisecond)
}

// mochi never numbers a message of its own with an alias: it wraps to 1
// after firstAlias-1. This fails if a mochi upgrade moved the limit
// (reservePacketIDs, queue.go).
func TestPacketIDsReserved(t *testing.T) {
	srv := mochi.New(&mochi.Options{})
	if !reservePacketIDs(srv.Options.Capabilities, aliasIDs) {
		t.Fatal("mochi's packet id limit not found")
	}
	cl := srv.NewClient(nil, "t", "c", false)
	for want := uint32(1); want < firstAlias; want++ {
		if id, err := cl.NextPacketID(); err != nil || id != want {
			t.Fatalf("NextPacketID %d %v, want %d", id, err, want)
		}
	}
	if id, _ := cl.NextPacketID(); id != 1 {
		t.Fatalf("after %d: NextPacketID %d, want 1 (the aliases are kept)", firstAlias-1, id)
	}
}

// The same from a real client's side: paho (MQTT 3.1.1) numbers its
// publishes from 1, as the gateway numbers its deliveries. A device holds
// two commands unacknowledged while it publishes a reading; no command is
// lost: the device gets both again when it reconnects.
func TestPahoDeviceKeepsCommandWhilePublishing(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	device := func(h paho.MessageHandler) paho.Client {
		return mustConnect(t, e.addr(), "pid-device", "admin", func(o *paho.ClientOptions) {
			o.SetCleanSession(false).SetAutoAckDisabled(true).SetDefaultPublishHandler(h)
		})
	}
	cmds := make(chan paho.Message, 4)
	d := device(func(_ paho.Client, m paho.Message) { cmds <- m })
	wait(t, d.Subscribe("pid/#", 1, nil))
	ctl := mustConnect(t, e.addr(), "pid-ctl", "admin")
	// paho numbered its SUBSCRIBE 1 and numbers its next packet 2; the
	// gateway numbers its deliveries 1, 2.
	for _, c := range []string{"turn on", "turn off"} {
		wait(t, ctl.Publish("pid/cmd", 1, false, c))
	}
	ids := map[uint16]bool{}
	for range 2 {
		select {
		case m := <-cmds:
			ids[m.MessageID()] = true
		case <-time.After(20 * time.Second):
			t.Fatal("no command")
		}
	}
	wait(t, d.Publish("readings/t", 1, false, "21.5"))
	if !ids[2] {
		t.Logf("the gateway numbered the commands %v: no id shared with paho's", ids)
	}
	d.Disconnect(100) // the commands were never acknowledged
	again := make(chan paho.Message, 4)
	device(func(_ paho.Client, m paho.Message) { again <- m }) // the same session, connected again
	var got []string
	for len(got) < 2 {
		select {
		case m := <-again:
			got = append(got, string(m.Payload()))
			m.Ack()
		case <-time.After(20 * time.Second):
			t.Fatalf("after reconnecting got %q, want both unacknowledged commands again", got)
		}
	}
}

// A QoS 2 PUBLISH sent again (DUP) continues the client's exchange, also
// once the server's message with the same identifier is acknowledged:
// the message reaches subscribers once [MQTT-4.3.3-12] (3.1.1: [MQTT-4.3.3-2]).
func TestQoS2ResentAfterServersMessageAcked(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	reader := mustDialWire(t, e.addr(), "pid-reader", "admin", 4, nil)
	reader.subscribe(1, packets.Subscription{Filter: "readings/#", Qos: 2})
	w, pk := pendingDelivery(t, e, "pid-dup", 4, nil)
	w.publish("readings/t", "once", 2, false, pk.PacketID, packets.Properties{})
	w.expect(packets.Pubrec)
	w.ack(pk) // the server's message with the same identifier is done
	dup := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Dup: true},
		TopicName: "readings/t", Payload: []byte("once"), PacketID: pk.PacketID}
	w.send(dup) // as if the PUBREC was lost
	if rec := w.expect(packets.Pubrec); rec.PacketID != pk.PacketID {
		t.Fatalf("PUBREC %d, want %d", rec.PacketID, pk.PacketID)
	}
	w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: pk.PacketID})
	if comp := w.expect(packets.Pubcomp); comp.PacketID != pk.PacketID {
		t.Fatalf("PUBCOMP %d, want %d", comp.PacketID, pk.PacketID)
	}
	got := reader.expect(packets.Publish)
	reader.ack(got)
	reader.expectSilence(300 * time.Millisecond) // not a second time
}

// dropStaleAcks keeps what a reconnect must resend or remember (the
// server's PUBLISH and PUBREL, the client's QoS 2 exchange awaiting its
// PUBREL) and drops the server's finished answers, PUBACK and PUBCOMP,
// that a takeover copied mid-write.
func TestDropStaleAcks(t *testing.T) {
	srv := mochi.New(&mochi.Options{})
	cl := srv.NewClient(nil, "t", "c", false)
	for id, typ := range map[uint16]byte{1: packets.Publish, 2: packets.Puback, 3: packets.Pubrec, 4: packets.Pubrel, 5: packets.Pubcomp} {
		cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, PacketID: id})
	}
	srv.Info.Inflight = 5
	dropStaleAcks(cl, srv)
	var kept []uint16
	for _, pk := range cl.State.Inflight.GetAll(false) {
		kept = append(kept, pk.PacketID)
	}
	slices.Sort(kept)
	if fmt.Sprint(kept) != "[1 3 4]" || srv.Info.Inflight != 3 {
		t.Fatalf("kept %v, in-flight gauge %d; want [1 3 4] and 3", kept, srv.Info.Inflight)
	}
}
