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

// TestConnectCappedBeforeLogin: connections whose CONNECT declares more
// than 64 KiB (though under max_packet_size) are closed at once, without
// the broker allocating the declared length: 300 of them cost far less
// than 300 MB.
func TestConnectCappedBeforeLogin(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.ConnectTimeout = 2 * time.Minute // the cap, not the timeout, must close them
	e := startBroker(t, cfg, nil)
	addr := e.addr()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 300
	var conns []*mq
	defer func() {
		for _, m := range conns {
			m.close()
		}
	}()
	for range n {
		c, err := netDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		m := &mq{v: 4, conn: c, r: newReader(c)}
		conns = append(conns, m)
		// CONNECT declaring 1,000,000 bytes (below the 1 MiB max_packet_size).
		if _, err := c.Write([]byte{0x10, 0xC0, 0x84, 0x3D}); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range conns {
		if _, err := m.read(20 * time.Second); err == nil || isTimeout(err) {
			t.Fatalf("connection %d with a 1 MB CONNECT still open (err %v)", i, err)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("broker allocated %d MB for %d oversized CONNECTs", d>>20, n)
	}
	// A CONNECT under the cap still logs in.
	ok, err := dialMQ(addr, "fine", "admin", 5, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	ok.close()
}
