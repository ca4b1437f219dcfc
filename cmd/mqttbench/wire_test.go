package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net"
	"testing"
	"time"
)

func TestPublishRoundTrip(t *testing.T) {
	for _, v := range []byte{4, 5} {
		for _, qos := range []byte{0, 1} {
			payload := bytes.Repeat([]byte{0xab}, 64)
			putPayload(payload, 7, 123456789, 42)
			pkt := appendPublish(nil, v, "bench/topic", qos, 513, payload)
			pkt = appendPuback(pkt, 9)
			r := newPacketReader(bytes.NewReader(pkt), 4096)
			h, body, err := r.Next()
			if err != nil {
				t.Fatalf("v%d qos%d: read publish: %v", v, qos, err)
			}
			if h>>4 != typePublish {
				t.Fatalf("v%d qos%d: type %d, want PUBLISH", v, qos, h>>4)
			}
			p, err := parsePublish(h, body, v)
			if err != nil {
				t.Fatalf("v%d qos%d: parse: %v", v, qos, err)
			}
			if string(p.Topic) != "bench/topic" || p.QoS != qos || !bytes.Equal(p.Payload, payload) {
				t.Fatalf("v%d qos%d: got topic %q qos %d payload %x", v, qos, p.Topic, p.QoS, p.Payload)
			}
			if qos == 1 && p.ID != 513 {
				t.Fatalf("v%d: packet id %d, want 513", v, p.ID)
			}
			pub, seq, ts, ok := readPayload(p.Payload)
			if !ok || pub != 7 || seq != 123456789 || ts != 42 {
				t.Fatalf("payload fields: %d %d %d %v", pub, seq, ts, ok)
			}
			h, body, err = r.Next()
			if err != nil || h>>4 != typePuback {
				t.Fatalf("puback: h=%#x err=%v", h, err)
			}
			if id, _ := parseAckID(body); id != 9 {
				t.Fatalf("puback id %d, want 9", id)
			}
		}
	}
}

func TestPublisherPatchesIDAndPayload(t *testing.T) {
	for _, v := range []byte{4, 5} {
		var out bytes.Buffer
		c := &client{version: v, w: bufio.NewWriter(&out)}
		p := newPublisher(c, 3, "a/long/enough/topic/name", 1, 64)
		for i := 0; i < 3; i++ {
			if err := p.write(time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.w.Flush(); err != nil {
			t.Fatal(err)
		}
		r := newPacketReader(&out, 4096)
		for i := 0; i < 3; i++ {
			h, body, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			pp, err := parsePublish(h, body, v)
			if err != nil {
				t.Fatal(err)
			}
			_, seq, _, _ := readPayload(pp.Payload)
			if pp.ID != uint16(i+1) || seq != uint64(i) || string(pp.Topic) != "a/long/enough/topic/name" {
				t.Fatalf("v%d message %d: id %d seq %d topic %q", v, i, pp.ID, seq, pp.Topic)
			}
		}
	}
}

func TestConnectSubscribeEncoding(t *testing.T) {
	got := appendConnect(nil, connectOpts{Version: 4, ClientID: "c", KeepAlive: 60, CleanSession: true})
	want := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c'}
	if !bytes.Equal(got, want) {
		t.Fatalf("connect = % x, want % x", got, want)
	}
	got = appendSubscribe(nil, 5, 1, "a/#", 1)
	want = []byte{0x82, 9, 0, 1, 0, 0, 3, 'a', '/', '#', 1}
	if !bytes.Equal(got, want) {
		t.Fatalf("subscribe v5 = % x, want % x", got, want)
	}
	if id, code, err := parseSuback([]byte{0, 1, 0, 1}, 5); err != nil || id != 1 || code != 1 {
		t.Fatalf("suback v5: %d %d %v", id, code, err)
	}
}

func TestVarint(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455} {
		b := appendVarint(nil, n)
		if len(b) != varintLen(n) {
			t.Fatalf("%d: %d bytes, varintLen says %d", n, len(b), varintLen(n))
		}
		got, used, err := readVarint(b)
		if err != nil || got != n || used != len(b) {
			t.Fatalf("%d: decoded %d (%d bytes, %v)", n, got, used, err)
		}
	}
}

func TestReaderRejectsHugeLength(t *testing.T) {
	r := newPacketReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}), 4096)
	if _, _, err := r.Next(); err == nil {
		t.Fatal("a 256 MB declared length was accepted")
	}
}

func TestSeqTracker(t *testing.T) {
	tr := newSeqTracker(1)
	for _, s := range []uint64{0, 1, 3, 2, 3, 500} {
		tr.record(s)
	}
	if tr.unique != 5 || tr.dup != 1 || tr.ooo != 1 {
		t.Fatalf("unique %d dup %d ooo %d, want 5 1 1", tr.unique, tr.dup, tr.ooo)
	}
}

// The worked example of docs/chap1.md.
func TestChap1Vector(t *testing.T) {
	salt, _ := base64.RawURLEncoding.DecodeString("AAECAwQFBgcICQoLDA0ODw")
	key, err := chap1ClientKey("correct horse battery staple", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(key); got != "9bce4619be25eb19db70fdbbc33a48009d86a1b122ef3b0fe4231a639771ec70" {
		t.Fatalf("ClientKey %s", got)
	}
	nonce := "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM"
	got := chap1PasswordField(nonce, chap1Proof(key, nonce, "alice", "dash-1"))
	if want := "chap1:" + nonce + ":rPXxdYJI8z-Kk9ibbkRIZL1FTENqOPRjRG6mvyr3yOE"; got != want {
		t.Fatalf("password field %s, want %s", got, want)
	}
}

func FuzzPacketReader(f *testing.F) {
	f.Add(appendPublish(nil, 4, "t", 1, 1, []byte("hello")))
	f.Add(appendPublish(nil, 5, "a/b", 0, 0, make([]byte, 64)))
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add([]byte{0x90, 4, 0, 1, 0, 1})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []byte{4, 5} {
			r := newPacketReader(bytes.NewReader(data), 512)
			for {
				h, body, err := r.Next()
				if err != nil {
					break
				}
				switch h >> 4 {
				case typePublish:
					if p, err := parsePublish(h, body, v); err == nil {
						readPayload(p.Payload)
					}
				case typeConnack:
					_, _ = parseConnack(body)
				case typeSuback:
					_, _, _ = parseSuback(body, v)
				default:
					_, _ = parseAckID(body)
				}
			}
		}
	})
}

// A bufio.Writer may hand wsConn a packet split in two; each MQTT packet
// must still leave as exactly one unmasked-correctly frame.
func TestWSFramePerPacket(t *testing.T) {
	var raw bytes.Buffer
	wc := &wsConn{perPacket: true, raw: rawConn{&raw}, mask: [4]byte{1, 2, 3, 4}}
	var stream []byte
	for i := 0; i < 5; i++ {
		stream = appendPublish(stream, 4, "t/x", 1, uint16(i+1), make([]byte, 64+i*100))
	}
	for i := 0; i < len(stream); i += 37 {
		if _, err := wc.Write(stream[i:min(i+37, len(stream))]); err != nil {
			t.Fatal(err)
		}
	}
	b := raw.Bytes()
	var got []byte
	frames := 0
	for len(b) > 0 {
		if b[0] != 0x82 || b[1]&0x80 == 0 {
			t.Fatalf("frame %d header % x", frames, b[:2])
		}
		n, i := int(b[1]&0x7f), 2
		if n == 126 {
			n, i = int(b[2])<<8|int(b[3]), 4
		}
		mask := b[i : i+4]
		payload := b[i+4 : i+4+n]
		for j := range payload {
			got = append(got, payload[j]^mask[j&3])
		}
		b = b[i+4+n:]
		frames++
	}
	if frames != 5 || !bytes.Equal(got, stream) {
		t.Fatalf("%d frames, payload equal %v; want 5 frames carrying the stream", frames, bytes.Equal(got, stream))
	}
}

type rawConn struct{ *bytes.Buffer }

func (rawConn) Close() error                     { return nil }
func (rawConn) LocalAddr() net.Addr              { return nil }
func (rawConn) RemoteAddr() net.Addr             { return nil }
func (rawConn) SetDeadline(time.Time) error      { return nil }
func (rawConn) SetReadDeadline(time.Time) error  { return nil }
func (rawConn) SetWriteDeadline(time.Time) error { return nil }
