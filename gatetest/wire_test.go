package gatetest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestFrameRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 300) // a 2-byte remaining length
	want := PublishFrame("a/b", payload)
	var stream []byte
	for range 3 {
		stream = append(stream, want...)
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for i := range 3 {
		got, err := ReadFrame(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d = %x, %v; want %x", i, got, err, want)
		}
		pk, err := DecodeFrame(got, 4)
		if err != nil || pk.TopicName != "a/b" || !bytes.Equal(pk.Payload, payload) {
			t.Fatalf("decoded frame %d: %+v, %v", i, pk, err)
		}
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameMalformed(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"five length bytes": {[]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrMalformed},
		"short body":        {[]byte{0x30, 0x05, 'a'}, io.ErrUnexpectedEOF},
		"no length":         {[]byte{0x30}, io.ErrUnexpectedEOF},
	} {
		if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(c.in))); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestRawConnTalks: a RawConn sends what it encodes and reads what the
// peer sends back, over a real loopback connection.
func TestRawConnTalks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		f, _ := ReadFrame(bufio.NewReader(c))
		got <- f
		c.Write([]byte{0x20, 0x03, 0x00, 0x00, 0x00}) // MQTT 5 CONNACK, success, no properties
	}()
	r := DialRaw(t, l.Addr().String())
	r.Send(ConnectPacket("id", "u", "p", 5))
	pk, err := DecodeFrame(<-got, 5)
	if err != nil || pk.FixedHeader.Type != packets.Connect {
		t.Fatalf("the peer read %+v, %v; want a CONNECT", pk, err)
	}
	if ack := r.MustRecv(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK reason %#x", ack.ReasonCode)
	}
	r.ExpectClosed()
}

// FuzzReadFrame: any bytes give a frame, an error or EOF; never a panic,
// and a frame decodes without a panic.
func FuzzReadFrame(f *testing.F) {
	f.Add(PublishFrame("a/b", []byte("hello")))
	f.Add([]byte{0x20, 0x03, 0x00, 0x00, 0x00})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			frame, err := ReadFrame(r)
			if err != nil {
				return
			}
			if len(frame) < 2 {
				t.Fatalf("frame %x is shorter than a fixed header", frame)
			}
			_, _ = DecodeFrame(frame, 5)
			_, _ = DecodeFrame(frame, 4)
		}
	})
}
