package mqtt

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestHugeDeclaredLengthAndGarbage: a packet declaring 256 MB, before or
// after CONNECT, and garbage after a valid CONNECT close the connection
// without the broker allocating the declared length; a client beside them
// keeps its round trips.
func TestHugeDeclaredLengthAndGarbage(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	addr := e.addr()
	live, err := dialMQ(addr, "live", "admin", 4, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	if err := live.subscribe("rt/live", 1); err != nil {
		t.Fatal(err)
	}
	pub, err := dialMQ(addr, "livepub", "admin", 4, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	roundTrip := func(i int) {
		t.Helper()
		if err := pub.publish1("rt/live", fmt.Appendf(nil, "%d", i), uint16(i+1)); err != nil {
			t.Fatalf("round trip %d: publish: %v", i, err)
		}
		pk, err := live.read(20 * time.Second)
		if err != nil || string(pk.Payload) != fmt.Sprint(i) {
			t.Fatalf("round trip %d: got %q, %v", i, pk.Payload, err)
		}
		_ = live.puback(pk.PacketID)
	}
	roundTrip(0)

	huge := []byte{0xFF, 0xFF, 0xFF, 0x7F} // remaining length 268,435,455
	cases := []struct {
		name    string
		connect bool
		send    []byte
	}{
		{"huge CONNECT", false, append([]byte{0x10}, huge...)},
		{"huge PUBLISH after CONNECT", true, append([]byte{0x30}, huge...)},
		{"garbage after CONNECT", true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe")},
		{"reserved packet type", true, []byte{0xF0, 0x00}},
		{"malformed length", true, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for i, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var m *mq
		if c.connect {
			if m, err = dialMQ(addr, fmt.Sprintf("bad%d", i), "admin", 4, true, 0); err != nil {
				t.Fatal(err)
			}
		} else {
			m = &mq{v: 4}
			if m.conn, err = netDial(addr); err != nil {
				t.Fatal(err)
			}
			m.r = newReader(m.conn)
		}
		if _, err := m.conn.Write(c.send); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		// The broker closes the connection (no more bytes than a
		// DISCONNECT for MQTT 5, none for 3.1.1).
		for {
			if _, err := m.read(20 * time.Second); err != nil {
				if isTimeout(err) {
					t.Fatalf("%s: connection still open after 20 s", c.name)
				}
				break
			}
		}
		m.close()
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 32<<20 {
			t.Errorf("%s: broker allocated %d MB for it", c.name, d>>20)
		}
		roundTrip(i + 1)
	}
}
