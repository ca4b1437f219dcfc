package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// wire is a byte-level MQTT 3.1.1/5 client for the tests of the
// standard's normative statements: it sends any packet (or any bytes) and
// decodes every packet a server may send.
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
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		w.t.Fatalf("wire: cannot send type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendBytes(buf.Bytes())
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
	var pk packets.Packet
	b, err := w.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(w.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(w.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = w.v
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubrel:
		err = pk.PubrelDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Auth:
		err = pk.AuthDecode(body)
	case packets.Pingresp:
	default:
		err = errors.New("unexpected packet type")
	}
	return pk, err
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
