package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/mochi-mqtt/server/v2/packets"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// netListener is a TCP (optionally TLS) listener for mochi that bounds the
// time to CONNECT and logs refused connections at debug level only.
type netListener struct {
	b    *Broker
	id   string
	l    net.Listener
	once sync.Once
	log  *slog.Logger
}

var (
	_ listeners.Listener = (*netListener)(nil)
	_ listeners.Listener = (*wsListener)(nil)
)

func listen(b *Broker, id, addr string, t *tls.Config) (*netListener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt: listen %s on %s: %w", id, addr, err)
	}
	if t != nil {
		l = tls.NewListener(l, t)
	}
	return &netListener{b: b, id: id, l: l, log: b.log.With("listener", id)}, nil
}

func (n *netListener) ID() string              { return n.id }
func (n *netListener) Address() string         { return n.l.Addr().String() }
func (n *netListener) Protocol() string        { return n.id }
func (n *netListener) Init(*slog.Logger) error { return nil }

func (n *netListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := n.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				n.log.Error("accept failed; listener stopped", "err", err)
			}
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		go func() {
			if err := n.b.serve(n.id, conn); err != nil {
				n.log.Debug("connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (n *netListener) stop() { n.once.Do(func() { _ = n.l.Close() }) }

func (n *netListener) Close(closeClients listeners.CloseFn) {
	n.stop()
	closeClients(n.id)
}

// wsListener stands for the WebSocket endpoint, whose connections arrive
// through Broker.ServeConn; it exists so that shutdown reaches them.
type wsListener struct{}

func (wsListener) ID() string                           { return ListenerWS }
func (wsListener) Address() string                      { return "" }
func (wsListener) Protocol() string                     { return "ws" }
func (wsListener) Init(*slog.Logger) error              { return nil }
func (wsListener) Serve(listeners.EstablishFn)          {}
func (wsListener) Close(closeClients listeners.CloseFn) { closeClients(ListenerWS) }

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
type prefixConn struct {
	net.Conn
	pre []byte
	// stall bounds each write: mochi holds the client's lock while it
	// writes, so a peer that stops reading would otherwise hold every
	// publisher to its topics. A write that times out closes the client
	// (its persistent session keeps the messages); onStall counts it.
	stall   time.Duration
	onStall func(error)
}

func (p *prefixConn) Write(b []byte) (int, error) {
	if p.stall > 0 {
		_ = p.Conn.SetWriteDeadline(time.Now().Add(p.stall))
	}
	n, err := p.Conn.Write(b)
	if err != nil && p.onStall != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.onStall(err)
		}
	}
	return n, err
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
