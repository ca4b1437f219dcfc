package gatetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The one raw MQTT packet reader and writer of the tests: ReadFrame takes
// whole control packets off a stream as bytes, ReadPacket decodes them with
// mochi's packets, Encode builds them, and RawConn is a byte-level client
// for what paho cannot do (malformed or out-of-order packets, a client that
// stops reading). cmd/mqttbench has its own codec: it is a tool, not a test.

// maxFrame bounds the remaining length ReadFrame accepts (the MQTT maximum).
const maxFrame = 268435455

// ErrMalformed is returned by ReadFrame for a remaining length longer than
// four bytes.
var ErrMalformed = errors.New("gatetest: malformed remaining length")

// ReadFrame reads one MQTT control packet: the fixed header byte, the
// remaining length and the body, returned together as they were on the wire.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	frame := []byte{h}
	n, mul := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return nil, noEOF(err)
		}
		frame = append(frame, b)
		n += int(b&0x7f) * mul
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return nil, ErrMalformed
		}
		mul *= 128
	}
	if n > maxFrame {
		return nil, ErrMalformed
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, noEOF(err)
	}
	return append(frame, body...), nil
}

// noEOF turns io.EOF in the middle of a packet into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadPacket reads one packet and decodes it for protocol version (3, 4
// or 5).
func ReadPacket(r *bufio.Reader, version byte) (packets.Packet, error) {
	frame, err := ReadFrame(r)
	if err != nil {
		return packets.Packet{}, err
	}
	return DecodeFrame(frame, version)
}

// DecodeFrame decodes a whole packet as ReadFrame returns it.
func DecodeFrame(frame []byte, version byte) (packets.Packet, error) {
	var pk packets.Packet
	if len(frame) < 2 {
		return pk, ErrMalformed
	}
	if err := pk.FixedHeader.Decode(frame[0]); err != nil {
		return pk, err
	}
	n, used, err := packets.DecodeLength(bytes.NewReader(frame[1:]))
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := frame[1+used:]
	pk.ProtocolVersion = version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Auth:
		err = pk.AuthDecode(body)
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
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Connect:
		err = pk.ConnectDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(body)
	case packets.Pingreq, packets.Pingresp:
	default:
		err = fmt.Errorf("gatetest: unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// Encode encodes a packet a client sends. A zero ProtocolVersion means 5.
func Encode(pk packets.Packet) ([]byte, error) {
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = 5
	}
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Auth:
		err = pk.AuthEncode(&buf)
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
		return nil, fmt.Errorf("gatetest: cannot encode packet type %d", pk.FixedHeader.Type)
	}
	return buf.Bytes(), err
}

// ConnectPacket is a clean-start CONNECT with keepalive 30 s; user and pass
// are left out when empty. Version 3 uses the protocol name MQIsdp.
func ConnectPacket(id, user, pass string, version byte) packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id,
		},
	}
	if version == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	if user != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
	}
	if pass != "" {
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pass)
	}
	return pk
}

// PublishFrame is an MQTT 3.1.1 QoS 0 PUBLISH as bytes.
func PublishFrame(topic string, payload []byte) []byte {
	b, err := Encode(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 4,
		TopicName: topic, Payload: payload,
	})
	if err != nil {
		panic(err) // a QoS 0 PUBLISH always encodes
	}
	return b
}

// RawConn is a byte-level MQTT client over any net.Conn. Its methods fail
// the test on an error, so only the test's goroutine may call them. Version
// is the protocol version packets are encoded and decoded with (5 unless
// set otherwise).
type RawConn struct {
	t       testing.TB
	Conn    net.Conn
	R       *bufio.Reader
	Version byte
}

// DialRaw connects to addr over TCP with a 30 s deadline for everything;
// the connection is closed when the test ends.
func DialRaw(t testing.TB, addr string) *RawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return NewRawConn(t, c)
}

// NewRawConn wraps c, sets a 30 s deadline and closes it when the test ends.
func NewRawConn(t testing.TB, c net.Conn) *RawConn {
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &RawConn{t: t, Conn: c, R: bufio.NewReader(c), Version: 5}
}

// Send encodes pk with the connection's version unless pk has its own.
func (r *RawConn) Send(pk packets.Packet) {
	r.t.Helper()
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = r.Version
	}
	b, err := Encode(pk)
	if err != nil {
		r.t.Fatal(err)
	}
	r.SendBytes(b)
}

// SendBytes writes b as it is: a malformed packet, or several.
func (r *RawConn) SendBytes(b []byte) {
	r.t.Helper()
	if _, err := r.Conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// Recv reads one packet; the error is io.EOF or similar when the peer closed.
func (r *RawConn) Recv() (packets.Packet, error) {
	return ReadPacket(r.R, r.Version)
}

// MustRecv reads one packet and fails the test unless it is of type typ.
func (r *RawConn) MustRecv(typ byte) packets.Packet {
	r.t.Helper()
	pk, err := r.Recv()
	if err != nil {
		r.t.Fatalf("recv: %v", err)
	}
	if pk.FixedHeader.Type != typ {
		r.t.Fatalf("got packet type %d (reason %#x), want %d", pk.FixedHeader.Type, pk.ReasonCode, typ)
	}
	return pk
}

// ExpectClosed checks the peer closed the connection with nothing more.
func (r *RawConn) ExpectClosed() {
	r.t.Helper()
	pk, err := r.Recv()
	if err == nil {
		r.t.Fatalf("got packet type %d (reason %#x), want the connection closed", pk.FixedHeader.Type, pk.ReasonCode)
	}
}

// UserProp returns the value of pk's first user property key, "" if none.
func UserProp(pk packets.Packet, key string) string {
	for _, u := range pk.Properties.User {
		if u.Key == key {
			return u.Val
		}
	}
	return ""
}
