package ws

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrTextFrame is returned by Conn.Read when the peer sent a text message;
// the connection has then been closed with 1002 (protocol error)
// [MQTT-6.0.0-1].
var ErrTextFrame = errors.New("ws: text frame received; MQTT over WebSocket needs binary frames")

// Conn is a WebSocket connection seen as a net.Conn byte stream, the shape
// the broker expects. Reads consume the binary messages as one stream, so an
// MQTT packet may be split over messages and one message may carry several
// packets [MQTT-6.0.0-2, -3]. Each Write is sent as one binary message.
//
// Conn is safe for concurrent use by one reader and any number of writers
// (writes are serialized); Close may be called at any time and more than
// once. It keeps the peer alive with pings: if no pong arrives within
// PongTimeout after a ping, reads fail and the connection is closed. Every
// write has a deadline, so a peer that stops reading is disconnected instead
// of holding memory. Conn is created by the Server; the zero value is not
// usable.
type Conn struct {
	ws     *websocket.Conn
	remote net.Addr

	pingInterval, pongTimeout, writeTimeout time.Duration

	rmu sync.Mutex // one reader
	r   io.Reader  // current message, nil between messages

	wmu sync.Mutex // one writer

	dmu       sync.Mutex // guards the deadlines below
	alive     time.Time  // keepalive read deadline (zero: none)
	userRead  time.Time  // read deadline set through SetReadDeadline
	userWrite time.Time  // write deadline set through SetWriteDeadline

	ping *time.Timer // keepalive (nil without); guarded by dmu

	closeOnce sync.Once
	done      chan struct{}
}

var _ net.Conn = (*Conn)(nil)

// connOptions are the per-connection limits taken from the Config.
type connOptions struct {
	pingInterval, pongTimeout, writeTimeout time.Duration
	readLimit                               int64
}

// newConn wraps an upgraded connection and starts its keepalive timer (if
// pingInterval > 0), stopped when the Conn is closed. The timer holds no
// goroutine between pings: an idle connection costs none.
func newConn(wc *websocket.Conn, remote net.Addr, o connOptions) *Conn {
	c := &Conn{
		ws: wc, remote: remote,
		pingInterval: o.pingInterval, pongTimeout: o.pongTimeout, writeTimeout: o.writeTimeout,
		done: make(chan struct{}),
	}
	if o.readLimit > 0 {
		wc.SetReadLimit(o.readLimit)
	}
	if c.pingInterval > 0 {
		c.alive = time.Now().Add(c.pingInterval + c.pongTimeout)
		wc.SetPongHandler(func(string) error {
			c.dmu.Lock()
			c.alive = time.Now().Add(c.pingInterval + c.pongTimeout)
			c.dmu.Unlock()
			return c.applyReadDeadline()
		})
		c.dmu.Lock()
		c.ping = time.AfterFunc(c.pingInterval, c.keepalive)
		c.dmu.Unlock()
	}
	_ = c.applyReadDeadline()
	return c
}

// keepalive sends a ping and re-arms the timer, until the Conn is closed.
func (c *Conn) keepalive() {
	select {
	case <-c.done:
		return
	default:
	}
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.writeTimeout)); err != nil {
		_ = c.Close()
		return
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	select {
	case <-c.done:
	default:
		c.ping.Reset(c.pingInterval)
	}
}

// Read reads bytes of the stream of binary messages. A normal close by the
// peer reads as io.EOF.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, c.readErr(err)
			}
			if mt != websocket.BinaryMessage {
				c.closeWith(websocket.CloseProtocolError, "text frames are not allowed")
				return 0, ErrTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			return n, c.readErr(err)
		}
		return n, nil
	}
}

// readErr maps a normal close to io.EOF.
func (c *Conn) readErr(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return io.EOF
	}
	return err
}

// Write sends p as one binary message. It fails, and closes the
// connection, if the peer does not take the data within the write timeout.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	if err := c.ws.SetWriteDeadline(c.writeDeadline()); err != nil {
		return 0, err
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		_ = c.Close()
		return 0, err
	}
	return len(p), nil
}

// writeDeadline is the earlier of the write timeout and the user deadline.
func (c *Conn) writeDeadline() time.Time {
	var d time.Time
	if c.writeTimeout > 0 {
		d = time.Now().Add(c.writeTimeout)
	}
	c.dmu.Lock()
	u := c.userWrite
	c.dmu.Unlock()
	if !u.IsZero() && (d.IsZero() || u.Before(d)) {
		d = u
	}
	return d
}

// applyReadDeadline sets the earlier of the keepalive and user deadlines.
func (c *Conn) applyReadDeadline() error {
	c.dmu.Lock()
	d := c.alive
	if u := c.userRead; !u.IsZero() && (d.IsZero() || u.Before(d)) {
		d = u
	}
	c.dmu.Unlock()
	return c.ws.SetReadDeadline(d)
}

// Close sends a normal close message (best effort), waits up to a second
// for the peer's reply if no Read is in progress, and closes the
// connection. It is idempotent.
func (c *Conn) Close() error {
	c.closeWith(websocket.CloseNormalClosure, "")
	return nil
}

// CloseWith closes the connection with the given WebSocket close code and
// reason (best effort); later calls do nothing.
func (c *Conn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.dmu.Lock()
		close(c.done)
		if c.ping != nil {
			c.ping.Stop()
		}
		c.dmu.Unlock()
		err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		if err == nil && c.rmu.TryLock() {
			// Nobody is reading: wait (briefly) for the peer's close reply,
			// so it sees a clean close rather than a reset (EPIPE).
			_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
			for {
				if _, _, err := c.ws.NextReader(); err != nil {
					break
				}
			}
			c.rmu.Unlock()
		}
		_ = c.ws.Close()
	})
}

// Done is closed when the connection has been closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// LocalAddr returns the server's address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the client's address: the direct peer, or the
// client named by X-Forwarded-For when the peer is a trusted proxy.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; the keepalive deadline still
// applies if it is earlier. After a read times out the Conn is unusable.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dmu.Lock()
	c.userRead = t
	c.dmu.Unlock()
	return c.applyReadDeadline()
}

// SetWriteDeadline sets a deadline for writes; the write timeout still
// applies if it is earlier.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.userWrite = t
	c.dmu.Unlock()
	return nil
}
