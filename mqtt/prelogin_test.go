package mqtt

import (
	"bytes"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// openConnects opens n TCP connections to addr that each send a CONNECT
// fixed header declaring 65,000 bytes and then 6 of them, and stay.
func openConnects(t *testing.T, addr string, n int) {
	t.Helper()
	hostile := []byte{0x10, 0xE8, 0xFB, 0x03, 0, 4, 'M', 'Q', 'T', 'T'} // 65000 = E8 FB 03
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = c.Write(hostile) // a closed connection is one refused: fine
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// preLoginAttack opens 3,000 hostile connections and returns the heap
// growth (the largest of several samples, one after each round trip of an
// existing client) and that client's slowest round trip.
func preLoginAttack(t *testing.T, cfg Config, wantServed int) (growth uint64, slowest time.Duration) {
	e := startBroker(t, cfg, nil)
	c := mustConnect(t, e.addr(), "existing", "admin")
	m, _ := subscribe(t, c, "rt/x", 1)
	roundTrip := func() time.Duration {
		start := time.Now()
		wait(t, c.Publish("rt/x", 1, false, "ping"))
		m.Next(t)
		return time.Since(start)
	}
	roundTrip()
	before := heapAlloc()
	openConnects(t, e.addr(), 3000)
	wantServed++ // the existing client
	served := func() int {
		e.b.lis.mu.Lock()
		defer e.b.lis.mu.Unlock()
		return len(e.b.lis.conns)
	}
	waitFor(t, "the connections to be served", 60*time.Second, func() bool { return served() >= wantServed })
	for range 20 {
		slowest = max(slowest, roundTrip())
		if h := heapAlloc(); h > before {
			growth = max(growth, h-before)
		}
	}
	if n := served(); n != wantServed {
		t.Errorf("%d connections served before login, want %d", n, wantServed)
	}
	return growth, slowest
}

func TestPreLoginMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 6,000 connections")
	}
	// With the defaults, the per-address bound before login (all come
	// from 127.0.0.1) keeps the rest out at accept.
	t.Run("defaults", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		growth, slowest := preLoginAttack(t, cfg, cfg.MaxPendingConnectionsPerAddr)
		t.Logf("3,000 hostile connections, defaults: heap +%.1f MB, slowest round trip %v", float64(growth)/1e6, slowest)
		if growth > 30<<20 {
			t.Errorf("heap grew by %.1f MB, want under 30 MB", float64(growth)/1e6)
		}
	})
	// With the bounds out of the way, each connection holds only what it
	// sent.
	t.Run("unbounded", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.MaxConnectionsPerAddr, cfg.MaxPendingConnections, cfg.MaxPendingConnectionsPerAddr = 5000, 5000, 5000
		growth, slowest := preLoginAttack(t, cfg, 3000)
		t.Logf("3,000 hostile connections, bounds raised: heap +%.1f MB, slowest round trip %v", float64(growth)/1e6, slowest)
		if growth > 30<<20 {
			t.Errorf("heap grew by %.1f MB, want under 30 MB", float64(growth)/1e6)
		}
	})
}

func TestConnectionsPerAddr(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxConnectionsPerAddr, cfg.MaxPendingConnectionsPerAddr = 3, 2
	e := startBroker(t, cfg, nil)
	// Logged-in clients leave the pending count: three connect one after
	// the other although only two may be pending.
	for _, id := range []string{"a", "b", "c"} {
		mustConnect(t, e.addr(), id, "admin")
	}
	if _, err := pahoConnect(e.addr(), "d", "admin", "pw-admin"); err == nil {
		t.Fatal("a fourth connection from one address was accepted; max_connections_per_addr is 3")
	}
	waitFor(t, "the refusal counted", 20*time.Second, func() bool { return e.b.lis.limits.limited.Load() == 1 })
}

// FuzzReadConnect checks that readConnect returns a whole CONNECT within
// the limit or an error, for any bytes.
func FuzzReadConnect(f *testing.F) {
	var buf bytes.Buffer
	pk := connectPacket("c", "u", "p", 5)
	if err := pk.ConnectEncode(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0x10, 0xE8, 0xFB, 0x03, 0, 4})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readConnect(bytes.NewReader(b), 1000)
		if err != nil {
			return
		}
		if len(got) > 1000 || !bytes.HasPrefix(b, got) || got[0] != 0x10 {
			t.Fatalf("readConnect(%x) = %x", b, got)
		}
		fh := packets.FixedHeader{}
		if err := fh.Decode(got[0]); err != nil {
			t.Fatal(err)
		}
		n, m, err := packets.DecodeLength(bytes.NewReader(got[1:]))
		if err != nil || 1+m+n != len(got) {
			t.Fatalf("readConnect(%x) = %x: length %d+%d, %v", b, got, m, n, err)
		}
	})
}
