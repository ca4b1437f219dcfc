package mqtt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// maxConnectSize bounds a CONNECT packet (fixed header included) before
// the client has logged in.
const maxConnectSize = 64 << 10

// connectReadStep is the buffer a CONNECT is first read into; it doubles
// as bytes arrive, so a connection holds about what it has sent.
const connectReadStep = 512

// readConnect reads the first packet of a connection and returns its
// bytes. It fails unless the packet is a CONNECT of at most limit bytes.
// The packet is read in small steps, so a connection that declares a
// large CONNECT and sends little costs little (mochi would allocate the
// declared length at once).
func readConnect(r io.Reader, limit int) ([]byte, error) {
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
	total := n + len(hdr)
	if total > limit {
		return nil, fmt.Errorf("mqtt: CONNECT of %d bytes exceeds the %d-byte limit before login", total, limit)
	}
	buf := append(make([]byte, 0, min(total, connectReadStep)), hdr...)
	for len(buf) < total {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), total-len(buf)))
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), total)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < total {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("mqtt: read CONNECT: %w", err)
		}
	}
	return buf, nil
}

// prefixConn replays the CONNECT readConnect read, then reads from
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
	onStall func(why string)
	// wait bounds how long Write waits for room (publish_wait): mochi
	// holds the client's lock while it writes, and publishers to the
	// client need that lock.
	wait time.Duration
	// onLogin, if set, is called once the client has logged in (connLimits).
	onLogin func()

	wmu      sync.Mutex
	wcond    sync.Cond // L is &wmu; signalled when a flush round starts or ends
	pending  *[]byte   // bytes accepted by Write, not yet sent (nil: none)
	flushing bool      // a flush goroutine runs; pending != nil implies it
	closing  bool      // Close is waiting for the last flush
	overfull bool      // a Write found no room for p.wait; Writes no longer wait
	werr     error     // the first write error; later Writes return it

	// drained is set when Close starts the graceful close (closing.go):
	// Read then returns net.ErrClosed and what arrives is discarded.
	drained atomic.Bool
	aliases *outAliases // topic aliases toward an MQTT 5 client (nil: none); guarded by wmu
}

const (
	// maxPending bounds the bytes accepted but not yet sent per connection
	// while its peer reads.
	maxPending = 64 << 10
	// maxOverfull bounds them once a Write has waited p.wait for room:
	// past it the connection is closed (the peer has stopped reading; a
	// persistent session keeps its QoS 1/2 messages).
	maxOverfull = 1 << 20
	// closeFlushTimeout bounds the wait for pending bytes at Close.
	closeFlushTimeout = time.Second
)

func newPrefixConn(c net.Conn, pre []byte, stall time.Duration) *prefixConn {
	p := &prefixConn{Conn: c, pre: pre, stall: stall}
	p.wcond.L = &p.wmu
	return p
}

// errOverfull ends a connection past maxOverfull.
var errOverfull = errors.New("mqtt: peer not reading: write buffer full")

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func (p *prefixConn) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if err := p.waitRoom(len(b)); err != nil {
		return 0, err
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

// waitRoom waits until n more bytes fit in pending, for at most p.wait
// (mochi holds the client's lock meanwhile, so publishers to the client
// wait too). If no room comes in that time, the connection is overfull:
// Write then takes bytes beyond maxPending without waiting, until a round
// has been sent, and closes the connection past maxOverfull. Called with
// wmu held.
func (p *prefixConn) waitRoom(n int) error {
	var (
		timer    *time.Timer
		deadline time.Time
	)
	for p.werr == nil && !p.closing && !p.overfull && p.pending != nil && len(*p.pending)+n > maxPending {
		if p.wait > 0 {
			if timer == nil {
				deadline = time.Now().Add(p.wait)
				timer = time.AfterFunc(p.wait, func() {
					p.wmu.Lock()
					p.wcond.Broadcast()
					p.wmu.Unlock()
				})
				defer timer.Stop()
			} else if !time.Now().Before(deadline) {
				p.overfull = true
				break
			}
		}
		p.wcond.Wait()
	}
	if p.werr != nil {
		return p.werr
	}
	if p.closing {
		return net.ErrClosed
	}
	if p.pending != nil && len(*p.pending)+n > maxOverfull {
		p.werr = errOverfull
		_ = p.Conn.Close() // the flush and the read loop end; mochi lets the client go
		if p.onStall != nil {
			go p.onStall(fmt.Sprintf("%d bytes were waiting to be written", len(*p.pending)))
		}
		return p.werr
	}
	return nil
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
		if p.pending == nil || len(*p.pending) <= maxPending {
			p.overfull = false // the peer is reading again
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
			p.onStall("a write was blocked for the stall timeout")
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
		if len(p.pre) == 0 {
			p.pre = nil // mochi holds its own copy of the packet now
		}
		return n, nil
	}
	n, err := p.Conn.Read(b)
	if p.drained.Load() {
		return 0, net.ErrClosed
	}
	return n, err
}
