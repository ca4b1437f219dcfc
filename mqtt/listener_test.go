package mqtt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Writes from several goroutines all arrive, each whole and in the order
// each writer made them, in fewer socket writes than Write calls.
func TestPrefixConnCoalescesInOrder(t *testing.T) {
	srv, cli := pipeTCP(t)
	counted := &countingConn{Conn: srv}
	p := newPrefixConn(counted, nil, 5*time.Second)

	const writers, each = 4, 5000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rec [8]byte
			for i := range each {
				binary.BigEndian.PutUint32(rec[:4], uint32(w))
				binary.BigEndian.PutUint32(rec[4:], uint32(i))
				if _, err := p.Write(rec[:]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	got := make([]byte, writers*each*8)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(cli, got); done <- err }()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("read: %v", err)
	}
	next := make([]uint32, writers)
	for off := 0; off < len(got); off += 8 {
		w, i := binary.BigEndian.Uint32(got[off:]), binary.BigEndian.Uint32(got[off+4:])
		if w >= writers || i != next[w] {
			t.Fatalf("record %d: writer %d seq %d, want seq %d", off/8, w, i, next[w])
		}
		next[w]++
	}
	if n := counted.writes.Load(); n >= writers*each {
		t.Errorf("%d socket writes for %d Write calls: nothing was coalesced", n, writers*each)
	} else {
		t.Logf("%d Write calls in %d socket writes", writers*each, n)
	}
}

// A refusal written just before Close reaches the peer: Close sends what is
// pending first.
func TestPrefixConnCloseSendsPending(t *testing.T) {
	srv, cli := pipeTCP(t)
	p := newPrefixConn(srv, nil, 5*time.Second)
	msg := []byte{0x20, 0x02, 0x00, 0x05} // CONNACK, not authorised
	if _, err := p.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(cli)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("peer read % x, want % x", got, msg)
	}
	if _, err := p.Write(msg); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// A peer that stops reading: Write blocks once maxPending bytes wait (the
// writer is slowed, memory is bounded), the stall timeout then fails the
// write, counts the stall and closes the connection, and Close does not
// hang.
func TestPrefixConnStalledPeer(t *testing.T) {
	srv, cli := pipeTCP(t)
	var stalls atomic.Int32
	p := newPrefixConn(srv, nil, 300*time.Millisecond)
	p.onStall = func(string) { stalls.Add(1) }
	chunk := make([]byte, 16<<10)
	var err error
	start := time.Now()
	written := 0
	for time.Since(start) < 10*time.Second {
		if _, err = p.Write(chunk); err != nil {
			break
		}
		written += len(chunk)
	}
	if err == nil {
		t.Fatalf("wrote %d bytes to a peer that reads nothing without an error", written)
	}
	if stalls.Load() == 0 {
		t.Errorf("write failed with %v but no stall was counted", err)
	}
	p.wmu.Lock()
	pending := 0
	if p.pending != nil {
		pending = len(*p.pending)
	}
	p.wmu.Unlock()
	if pending > maxPending {
		t.Errorf("%d bytes pending, bound %d", pending, maxPending)
	}
	closed := make(chan struct{})
	go func() { _ = p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a stalled peer")
	}
	// The peer sees the connection end once it drains what was sent.
	_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, cli); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection not closed after the stall: %v", err)
		}
	}
}

// Close is bounded even when the connection's deadlines do not reach a
// write already in progress (as with a WebSocket connection, whose
// deadline is applied when each message starts). In a synctest bubble
// over net.Pipe: the moment every goroutine blocks is the moment the
// peer's silence has filled everything, and the bound is checked on the
// bubble's clock, without waiting for it.
func TestPrefixConnCloseBoundedWithoutDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, peer := net.Pipe() // the peer never reads
		defer peer.Close()
		p := newPrefixConn(noWriteDeadline{srv}, nil, time.Hour)
		var accepted atomic.Int64
		go func() {
			chunk := make([]byte, 16<<10)
			for {
				if _, err := p.Write(chunk); err != nil {
					return
				}
				accepted.Add(1)
			}
		}()
		synctest.Wait() // a write is in progress and Write stopped accepting
		if accepted.Load() == 0 {
			t.Fatal("the writes never started")
		}
		start := time.Now()
		_ = p.Close() // a hang here is a synctest deadlock, reported as such
		if d := time.Since(start); d > closeFlushTimeout+100*time.Millisecond {
			t.Fatalf("Close returned after %v, want at most %v", d, closeFlushTimeout+100*time.Millisecond)
		}
	})
}

// noWriteDeadline ignores write deadlines.
type noWriteDeadline struct{ net.Conn }

func (noWriteDeadline) SetWriteDeadline(time.Time) error { return nil }

type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// BenchmarkConnWrite70 writes 70-byte packets (a 64-byte QoS 0 PUBLISH)
// to a loopback TCP peer that reads everything: straight to the socket,
// as mochi does, and through the coalescing prefixConn.
func BenchmarkConnWrite70(b *testing.B) {
	pkt := make([]byte, 70)
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"direct", func(c net.Conn) net.Conn { return c }},
		{"coalesced", func(c net.Conn) net.Conn { return newPrefixConn(c, nil, 30*time.Second) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, cli := pipeTCP(b)
			go func() { _, _ = io.Copy(io.Discard, cli) }()
			w := tc.wrap(srv)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Write(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
