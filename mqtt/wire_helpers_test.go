package mqtt

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// wire is a byte-level MQTT 3.1.1/5 client for the tests of the
// standard's normative statements, on gatetest's codec: it sends any
// packet (or any bytes), reads with a deadline, and runs the QoS flows.
type wire struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	v    byte
}

// dialWire connects as user (password "pw-"+user, "" for anonymous) with
// protocol v (4 or 5); edit may change the CONNECT. It returns the client
// and the CONNACK, or fails the test if none comes.
func dialWire(t testing.TB, addr, id, user string, v byte, edit func(*packets.Packet)) (*wire, packets.Packet) {
	t.Helper()
	w := dialRawWire(t, addr, v)
	pass := ""
	if user != "" {
		pass = "pw-" + user
	}
	pk := connectPacket(id, user, pass, v)
	if edit != nil {
		edit(&pk)
	}
	w.send(pk)
	ack := w.expect(packets.Connack)
	return w, ack
}

// dialRawWire connects and sends nothing.
func dialRawWire(t testing.TB, addr string, v byte) *wire {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, conn: c, r: bufio.NewReader(c), v: v}
}

// types lists the packet types of pks.
func types(pks []packets.Packet) []byte {
	var ts []byte
	for _, pk := range pks {
		ts = append(ts, pk.FixedHeader.Type)
	}
	return ts
}

// mustDialWire is dialWire for a CONNECT that must succeed.
func mustDialWire(t testing.TB, addr, id, user string, v byte, edit func(*packets.Packet)) *wire {
	t.Helper()
	w, ack := dialWire(t, addr, id, user, v, edit)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x, want 0", ack.ReasonCode)
	}
	return w
}

func (w *wire) send(pk packets.Packet) {
	w.t.Helper()
	pk.ProtocolVersion = w.v
	b, err := gatetest.Encode(pk)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendBytes(b)
}

func (w *wire) sendBytes(b []byte) {
	w.t.Helper()
	_ = w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatal(err)
	}
}

// recv reads one packet within d.
func (w *wire) recv(d time.Duration) (packets.Packet, error) {
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	return gatetest.ReadPacket(w.r, w.v)
}

// expect reads the next packet, which must be of type typ.
func (w *wire) expect(typ byte) packets.Packet {
	w.t.Helper()
	pk, err := w.recv(20 * time.Second)
	if err != nil {
		w.t.Fatalf("waiting for packet type %d: %v", typ, err)
	}
	if pk.FixedHeader.Type != typ {
		w.t.Fatalf("got packet type %d (reason %#x), want %d", pk.FixedHeader.Type, pk.ReasonCode, typ)
	}
	return pk
}

// expectClose reads until the server closes the connection and returns the
// packets it sent before (none for a plain close).
func (w *wire) expectClose(within time.Duration) []packets.Packet {
	w.t.Helper()
	var got []packets.Packet
	deadline := time.Now().Add(within)
	for {
		pk, err := w.recv(time.Until(deadline))
		if err == nil {
			got = append(got, pk)
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			w.t.Fatalf("connection still open after %s (got %d packets)", within, len(got))
		}
		return got
	}
}

// expectSilence checks that nothing arrives within d.
func (w *wire) expectSilence(d time.Duration) {
	w.t.Helper()
	pk, err := w.recv(d)
	if err == nil {
		w.t.Fatalf("got packet type %d, want none", pk.FixedHeader.Type)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		w.t.Fatalf("connection ended: %v", err)
	}
	// A timed-out read may have consumed nothing; the reader stays usable.
}

func (w *wire) subscribe(id uint16, subs ...packets.Subscription) packets.Packet {
	w.t.Helper()
	return w.subscribeProps(id, packets.Properties{}, subs...)
}

func (w *wire) subscribeProps(id uint16, props packets.Properties, subs ...packets.Subscription) packets.Packet {
	w.t.Helper()
	w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id,
		Filters: subs, Properties: props})
	ack := w.expect(packets.Suback)
	if ack.PacketID != id {
		w.t.Fatalf("SUBACK for %d, want %d", ack.PacketID, id)
	}
	return ack
}

func (w *wire) publish(topic string, payload string, qos byte, retain bool, id uint16, props packets.Properties) {
	w.t.Helper()
	w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName: topic, Payload: []byte(payload), PacketID: id, Properties: props})
}

// ack sends the acknowledgement of a received QoS 1 PUBLISH (QoS 2:
// PUBREC, PUBREL awaited, PUBCOMP).
func (w *wire) ack(pk packets.Packet) {
	w.t.Helper()
	switch pk.FixedHeader.Qos {
	case 1:
		w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	case 2:
		w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID})
		rel := w.expect(packets.Pubrel)
		w.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp, Qos: 0}, PacketID: rel.PacketID})
	}
}
