package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MQTT control packet types (the high nibble of the first byte).
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typePuback     = 4
	typeSubscribe  = 8
	typeSuback     = 9
	typePingreq    = 12
	typePingresp   = 13
	typeDisconnect = 14
	typeAuth       = 15
)

// maxPacket bounds the remaining length the reader accepts; the benchmark
// never needs more, and a hostile or broken peer cannot make it allocate more.
const maxPacket = 1 << 20

var errMalformed = errors.New("mqttbench: malformed packet")

// appendVarint appends the MQTT variable byte integer n.
func appendVarint(b []byte, n int) []byte {
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// varintLen is the encoded size of n as a variable byte integer.
func varintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// readVarint decodes a variable byte integer from b and returns it with the
// number of bytes used.
func readVarint(b []byte) (int, int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errMalformed
		}
		n |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errMalformed
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// connectOpts are the fields of a CONNECT packet the benchmark uses.
type connectOpts struct {
	Version      byte // 4 (3.1.1) or 5
	ClientID     string
	Username     string
	Password     string
	KeepAlive    uint16 // seconds
	CleanSession bool
}

// appendConnect appends an encoded CONNECT packet.
func appendConnect(b []byte, o connectOpts) []byte {
	var flags byte
	if o.CleanSession {
		flags |= 0x02
	}
	if o.Username != "" {
		flags |= 0x80
	}
	if o.Password != "" {
		flags |= 0x40
	}
	body := make([]byte, 0, 64+len(o.ClientID)+len(o.Username)+len(o.Password))
	body = appendString(body, "MQTT")
	body = append(body, o.Version, flags)
	body = binary.BigEndian.AppendUint16(body, o.KeepAlive)
	if o.Version == 5 {
		body = append(body, 0) // no properties
	}
	body = appendString(body, o.ClientID)
	if o.Username != "" {
		body = appendString(body, o.Username)
	}
	if o.Password != "" {
		body = appendString(body, o.Password)
	}
	b = append(b, typeConnect<<4)
	b = appendVarint(b, len(body))
	return append(b, body...)
}

// appendSubscribe appends a SUBSCRIBE for one filter at the given QoS.
func appendSubscribe(b []byte, version byte, id uint16, filter string, qos byte) []byte {
	rl := 2 + 2 + len(filter) + 1
	if version == 5 {
		rl++
	}
	b = append(b, typeSubscribe<<4|0x02)
	b = appendVarint(b, rl)
	b = binary.BigEndian.AppendUint16(b, id)
	if version == 5 {
		b = append(b, 0)
	}
	b = appendString(b, filter)
	return append(b, qos)
}

// appendPublish appends a PUBLISH packet. id is ignored for QoS 0.
func appendPublish(b []byte, version byte, topic string, qos byte, id uint16, payload []byte) []byte {
	rl := 2 + len(topic) + len(payload)
	if qos > 0 {
		rl += 2
	}
	if version == 5 {
		rl++
	}
	b = append(b, typePublish<<4|qos<<1)
	b = appendVarint(b, rl)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	if version == 5 {
		b = append(b, 0)
	}
	return append(b, payload...)
}

// appendPuback appends a PUBACK (success; the short form is valid in MQTT 5).
func appendPuback(b []byte, id uint16) []byte {
	return append(b, typePuback<<4, 2, byte(id>>8), byte(id))
}

func appendPingreq(b []byte) []byte    { return append(b, typePingreq<<4, 0) }
func appendDisconnect(b []byte) []byte { return append(b, typeDisconnect<<4, 0) }

// packetReader reads MQTT packets from a buffered stream into one reused
// buffer. Not safe for concurrent use; the body returned by Next is valid
// until the following call.
type packetReader struct {
	r   *bufio.Reader
	buf []byte
}

func newPacketReader(r io.Reader, size int) *packetReader {
	return &packetReader{r: bufio.NewReaderSize(r, size), buf: make([]byte, 0, 4096)}
}

// Next returns the first byte of the next packet and its body.
func (p *packetReader) Next() (byte, []byte, error) {
	h, err := p.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i == 4 {
			return 0, nil, errMalformed
		}
		c, err := p.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	if n > maxPacket {
		return 0, nil, fmt.Errorf("mqttbench: packet of %d bytes exceeds the %d byte limit", n, maxPacket)
	}
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	body := p.buf[:n]
	if _, err := io.ReadFull(p.r, body); err != nil {
		return 0, nil, err
	}
	return h, body, nil
}

// Buffered reports how many bytes are waiting in the read buffer; a reader
// flushes its pending acknowledgements when this drops to zero.
func (p *packetReader) Buffered() int { return p.r.Buffered() }

// publish is a decoded PUBLISH; the slices alias the reader's buffer.
type publish struct {
	QoS     byte
	Dup     bool
	Retain  bool
	ID      uint16
	Topic   []byte
	Payload []byte
}

// parsePublish decodes the body of a PUBLISH whose first byte is h.
func parsePublish(h byte, body []byte, version byte) (publish, error) {
	var p publish
	p.QoS = (h >> 1) & 3
	p.Dup = h&0x08 != 0
	p.Retain = h&0x01 != 0
	if p.QoS == 3 || len(body) < 2 {
		return p, errMalformed
	}
	tl := int(binary.BigEndian.Uint16(body))
	i := 2 + tl
	if i > len(body) {
		return p, errMalformed
	}
	p.Topic = body[2:i]
	if p.QoS > 0 {
		if i+2 > len(body) {
			return p, errMalformed
		}
		p.ID = binary.BigEndian.Uint16(body[i:])
		i += 2
	}
	if version == 5 {
		pl, n, err := readVarint(body[i:])
		if err != nil {
			return p, err
		}
		i += n
		if pl > len(body)-i {
			return p, errMalformed
		}
		i += pl
	}
	p.Payload = body[i:]
	return p, nil
}

// parseAckID returns the packet identifier of a PUBACK, SUBACK or similar.
func parseAckID(body []byte) (uint16, error) {
	if len(body) < 2 {
		return 0, errMalformed
	}
	return binary.BigEndian.Uint16(body), nil
}

// parseConnack returns the CONNACK return (3.1.1) or reason (5) code.
func parseConnack(body []byte) (byte, error) {
	if len(body) < 2 {
		return 0, errMalformed
	}
	return body[1], nil
}

// parseSuback returns the first granted QoS or failure code of a SUBACK.
func parseSuback(body []byte, version byte) (uint16, byte, error) {
	if len(body) < 3 {
		return 0, 0, errMalformed
	}
	id := binary.BigEndian.Uint16(body)
	i := 2
	if version == 5 {
		pl, n, err := readVarint(body[i:])
		if err != nil {
			return 0, 0, err
		}
		i += n + pl
		if i >= len(body) {
			return 0, 0, errMalformed
		}
	}
	return id, body[i], nil
}
