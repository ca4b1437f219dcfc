package uplink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A queue record is the value stored under each sequence key:
//
//	byte 0      version (1)
//	byte 1      flags: bits 0-1 QoS, bit 2 retain
//	bytes 2-9   enqueue time, Unix nanoseconds, big endian
//	uvarint     topic length, then the topic (the remote topic)
//	rest        payload
const (
	recordVersion   = 1
	recordHeaderLen = 10
	recordMaxTopic  = 65535 // MQTT topic names are at most 65535 bytes
)

// record is one message waiting in the queue.
type record struct {
	Seq     uint64 // key in the queue; not part of the encoding
	QoS     byte
	Retain  bool
	Time    time.Time // when it was queued
	Topic   string    // remote topic
	Payload []byte
}

// encodeRecord appends the encoding of r (without Seq) to dst.
func encodeRecord(dst []byte, r record) []byte {
	flags := r.QoS & 0x03
	if r.Retain {
		flags |= 0x04
	}
	dst = append(dst, recordVersion, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.AppendUvarint(dst, uint64(len(r.Topic)))
	dst = append(dst, r.Topic...)
	return append(dst, r.Payload...)
}

// errBadRecord is wrapped by every decodeRecord error.
var errBadRecord = errors.New("uplink: bad queue record")

// decodeRecord parses a record. The payload is copied, so b may be reused
// (bbolt values are only valid inside their transaction).
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < recordHeaderLen {
		return r, fmt.Errorf("%w: %d bytes is shorter than the header", errBadRecord, len(b))
	}
	if b[0] != recordVersion {
		return r, fmt.Errorf("%w: version %d, want %d", errBadRecord, b[0], recordVersion)
	}
	flags := b[1]
	if flags&^0x07 != 0 || flags&0x03 == 3 {
		return r, fmt.Errorf("%w: flags %#x", errBadRecord, flags)
	}
	r.QoS = flags & 0x03
	r.Retain = flags&0x04 != 0
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10])))
	rest := b[recordHeaderLen:]
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return r, fmt.Errorf("%w: topic length", errBadRecord)
	}
	rest = rest[k:]
	if n == 0 || n > recordMaxTopic || n > uint64(len(rest)) {
		return r, fmt.Errorf("%w: topic length %d with %d bytes left", errBadRecord, n, len(rest))
	}
	r.Topic = string(rest[:n])
	r.Payload = append([]byte{}, rest[n:]...)
	return r, nil
}
