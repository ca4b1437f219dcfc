package mqtt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// maxConnectSize bounds a CONNECT packet (fixed header included) before
// the client has logged in.
const maxConnectSize = 64 << 10

// readConnectHeader reads the first fixed header of a connection and
// returns its bytes. It fails unless the packet is a CONNECT of at most
// limit bytes.
func readConnectHeader(r io.Reader, limit int) ([]byte, error) {
	hdr := make([]byte, 1, 5)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("mqtt: read CONNECT: %w", err)
	}
	if hdr[0] != packets.Connect<<4 {
		return nil, fmt.Errorf("mqtt: first packet is type %d, not CONNECT", hdr[0]>>4)
	}
	var n, shift int
	for i := 0; ; i++ {
		if i == 4 {
			return nil, errors.New("mqtt: CONNECT: malformed remaining length")
		}
		var c [1]byte
		if _, err := io.ReadFull(r, c[:]); err != nil {
			return nil, fmt.Errorf("mqtt: read CONNECT: %w", err)
		}
		hdr = append(hdr, c[0])
		n |= int(c[0]&0x7f) << shift
		shift += 7
		if c[0]&0x80 == 0 {
			break
		}
	}
	if n+len(hdr) > limit {
		return nil, fmt.Errorf("mqtt: CONNECT of %d bytes exceeds the %d-byte limit before login", n+len(hdr), limit)
	}
	return hdr, nil
}

// prefixConn replays the bytes readConnectHeader consumed, then reads from
// the connection. Only mochi's read loop reads it.
//
// Writes are coalesced: Write appends to a pending buffer and returns, and
// one short-lived goroutine per burst sends everything pending with as few
// socket writes (and WebSocket messages) as it can. A publisher's run of
// PUBACKs, or a subscriber's run of deliveries, thus costs one system call
// instead of one each, and mochi's client lock is no longer held while the
// socket blocks. At most maxPending bytes wait; past that Write blocks
// until they are sent, which is what slows a publisher to a subscriber that
// cannot keep up (so at most maxPending plus the round being sent are held
// per connection). Close sends what is pending (a CONNACK refusal, a
// DISCONNECT) before it closes, waiting at most closeFlushTimeout.
type prefixConn struct {
	net.Conn
	pre []byte
	// stall bounds each write: a peer that stops reading would otherwise
	// hold every writer to it. A write that times out closes the
	// connection (a persistent session keeps the messages); onStall
	// counts it.
	stall   time.Duration
	onStall func(error)

	wmu      sync.Mutex
	wcond    sync.Cond // L is &wmu; signalled when a flush round starts or ends
	pending  *[]byte   // bytes accepted by Write, not yet sent (nil: none)
	flushing bool      // a flush goroutine runs; pending != nil implies it
	closing  bool      // Close is waiting for the last flush
	werr     error     // the first write error; later Writes return it

	// drained is set when Close starts the graceful close (closing.go):
	// Read then returns net.ErrClosed and what arrives is discarded.
	drained atomic.Bool
	aliases *outAliases // topic aliases toward an MQTT 5 client (nil: none); guarded by wmu
}

const (
	// maxPending bounds the bytes accepted but not yet sent per connection.
	maxPending = 64 << 10
	// closeFlushTimeout bounds the wait for pending bytes at Close.
	closeFlushTimeout = time.Second
)

func newPrefixConn(c net.Conn, pre []byte, stall time.Duration) *prefixConn {
	p := &prefixConn{Conn: c, pre: pre, stall: stall}
	p.wcond.L = &p.wmu
	return p
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (p *prefixConn) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for p.werr == nil && p.pending != nil && len(*p.pending)+len(b) > maxPending {
		p.wcond.Wait()
	}
	if p.werr != nil {
		return 0, p.werr
	}
	if p.closing {
		return 0, net.ErrClosed
	}
	n := len(b)
	if p.aliases != nil {
		b = p.aliases.rewrite(b) // here, in wire order (alias.go)
	}
	if p.pending == nil {
		p.pending = writeBufs.Get().(*[]byte)
	}
	*p.pending = append(*p.pending, b...)
	if !p.flushing {
		p.flushing = true
		go p.flush()
	}
	return n, nil
}

// useAliases turns on topic aliases for what is written from now on.
func (p *prefixConn) useAliases(a *outAliases) {
	p.wmu.Lock()
	p.aliases = a
	p.wmu.Unlock()
}

// flush sends pending bytes until none are left or a write fails.
func (p *prefixConn) flush() {
	p.wmu.Lock()
	for p.pending != nil && p.werr == nil {
		buf := p.pending
		p.pending = nil
		closing := p.closing
		p.wcond.Broadcast() // room for writers while this round is sent
		p.wmu.Unlock()
		err := p.send(*buf, closing)
		if cap(*buf) <= 4*maxPending {
			*buf = (*buf)[:0]
			writeBufs.Put(buf)
		}
		p.wmu.Lock()
		if err != nil {
			p.werr = err
		}
		p.wcond.Broadcast()
	}
	if p.pending != nil { // a write failed: the connection is going
		p.pending = nil
	}
	p.flushing = false
	p.wcond.Broadcast()
	err := p.werr
	p.wmu.Unlock()
	if err != nil {
		_ = p.Conn.Close() // the read loop ends, and mochi lets the client go
	}
}

// send writes b to the connection within the stall timeout (or the close
// timeout while closing).
func (p *prefixConn) send(b []byte, closing bool) error {
	switch {
	case closing:
		_ = p.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	case p.stall > 0:
		_ = p.Conn.SetWriteDeadline(time.Now().Add(p.stall))
	}
	_, err := p.Conn.Write(b)
	if err != nil && !closing && p.onStall != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.onStall(err)
		}
	}
	return err
}

// Close sends what is pending, waiting at most closeFlushTimeout, then
// closes the connection gracefully (closeGracefully). A second Close
// closes it at once.
func (p *prefixConn) Close() error {
	p.wmu.Lock()
	first := !p.closing
	if !p.closing {
		p.closing = true
		if p.flushing {
			// A write in progress may be blocked for the stall timeout:
			// bring its deadline forward and, for connections whose
			// deadlines do not reach a write already started, close the
			// connection under it when the time is up.
			_ = p.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
			t := time.AfterFunc(closeFlushTimeout+100*time.Millisecond, func() { _ = p.Conn.Close() })
			for p.flushing {
				p.wcond.Wait()
			}
			t.Stop()
		}
	}
	failed := p.werr != nil
	p.wmu.Unlock()
	if first && !failed {
		p.drained.Store(true)
		return closeGracefully(p.Conn)
	}
	return p.Conn.Close()
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.drained.Load() {
		return 0, net.ErrClosed
	}
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	n, err := p.Conn.Read(b)
	if p.drained.Load() {
		return 0, net.ErrClosed
	}
	return n, err
}
