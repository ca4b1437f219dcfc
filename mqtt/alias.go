package mqtt

import (
	"encoding/binary"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Topic aliases toward MQTT 5 clients (section 3.3.2.3.4). mochi assigns
// an alias when it queues a message (server.go:1053), not when it writes
// it; the gateway's flow control writes some messages out of that queue
// (a re-queued QoS 1/2 message, overflow.go pump), so the message that
// introduces an alias could reach the client after the ones that use it.
// mochi's aliases are therefore off (auth.go) and the aliases are set
// here instead, on the bytes of each PUBLISH as it enters the connection's
// write buffer (prefixConn.Write), which is the order of the wire.

// maxOutAliases bounds the aliases kept per connection, whatever the
// client allows.
const maxOutAliases = 64

// propTopicAlias is the Topic Alias property identifier.
const propTopicAlias = 0x23

// outAliases is one connection's topic -> alias map; prefixConn.wmu guards it.
type outAliases struct {
	max     uint16 // the client's Topic Alias Maximum, capped
	maxSize uint32 // the client's Maximum Packet Size (0: none)
	topics  map[string]uint16
	off     bool // the stream did not parse: no more aliases
}

func newOutAliases(clientMax uint16, maxSize uint32) *outAliases {
	return &outAliases{max: min(clientMax, maxOutAliases), maxSize: maxSize, topics: map[string]uint16{}}
}

// rewrite returns b, a run of whole MQTT 5 packets, with aliases in its
// PUBLISH packets: a topic's first PUBLISH carries the topic and a new
// alias, later ones the alias and an empty topic. Once the aliases are
// all given, other topics are sent in full. Anything that does not parse
// is passed on unchanged, and aliasing stops for the connection.
func (a *outAliases) rewrite(b []byte) []byte {
	if a.off {
		return b
	}
	var out []byte // nil until a packet changes
	for i := 0; i < len(b); {
		n, hl, ok := readVarint(b[i+1:])
		end := i + 1 + hl + n
		if !ok || end > len(b) || end < i {
			a.off = true
			return append(out, b[i:]...)
		}
		pk := b[i:end]
		var np []byte
		if b[i]>>4 == packets.Publish {
			np = a.publish(pk, 1+hl)
		}
		switch {
		case np != nil && out == nil:
			out = append(append(make([]byte, 0, len(b)), b[:i]...), np...)
		case np != nil:
			out = append(out, np...)
		case out != nil:
			out = append(out, pk...)
		}
		i = end
	}
	if out == nil {
		return b
	}
	return out
}

// publish returns pk (a whole PUBLISH whose variable header starts at
// off) using an alias, or nil to send it as it is.
func (a *outAliases) publish(pk []byte, off int) []byte {
	qos := (pk[0] >> 1) & 3
	if len(pk) < off+2 {
		a.off = true
		return nil
	}
	tl := int(binary.BigEndian.Uint16(pk[off:]))
	p := off + 2 + tl
	if qos > 0 {
		p += 2
	}
	if tl == 0 || p > len(pk) {
		return nil
	}
	topic := string(pk[off+2 : off+2+tl])
	pl, phl, ok := readVarint(pk[p:])
	if !ok || p+phl+pl > len(pk) {
		a.off = true
		return nil
	}
	props := pk[p+phl : p+phl+pl]
	if hasProp(props, propTopicAlias) || len(topic) <= 3 {
		return nil
	}
	alias, known := a.topics[topic]
	if !known {
		if len(a.topics) >= int(a.max) {
			return nil
		}
		alias = uint16(len(a.topics) + 1)
	}
	// Fixed header, topic (or none), packet id, properties with the alias
	// first, payload.
	var vh []byte
	if known {
		vh = append(vh, 0, 0)
	} else {
		vh = append(vh, pk[off:off+2+tl]...)
	}
	vh = append(vh, pk[off+2+tl:p]...) // packet id
	vh = appendVarint(vh, pl+3)
	vh = append(vh, propTopicAlias, byte(alias>>8), byte(alias))
	vh = append(vh, pk[p+phl:]...) // the other properties and the payload
	np := appendVarint([]byte{pk[0]}, len(vh))
	np = append(np, vh...)
	if a.maxSize > 0 && uint32(len(np)) > a.maxSize {
		return nil
	}
	if !known {
		a.topics[topic] = alias
	}
	return np
}

// hasProp reports whether the property id is in props; an unparsable
// property list counts as having it (the packet is left alone).
func hasProp(props []byte, id byte) bool {
	for i := 0; i < len(props); {
		pid := props[i]
		i++
		if pid == id {
			return true
		}
		switch pid {
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: // byte
			i++
		case 0x13, 0x21, 0x22, 0x23: // two-byte integer
			i += 2
		case 0x02, 0x11, 0x18, 0x27: // four-byte integer
			i += 4
		case 0x0B: // variable byte integer
			_, n, ok := readVarint(props[i:])
			if !ok {
				return true
			}
			i += n
		case 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: // string or binary
			if i+2 > len(props) {
				return true
			}
			i += 2 + int(binary.BigEndian.Uint16(props[i:]))
		case 0x26: // string pair
			for range 2 {
				if i+2 > len(props) {
					return true
				}
				i += 2 + int(binary.BigEndian.Uint16(props[i:]))
			}
		default:
			return true
		}
	}
	return false
}

// readVarint decodes an MQTT variable byte integer: its value and length.
func readVarint(b []byte) (v, n int, ok bool) {
	for shift := 0; n < 4 && n < len(b); shift += 7 {
		c := b[n]
		n++
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n, true
		}
	}
	return 0, 0, false
}

func appendVarint(b []byte, v int) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}
