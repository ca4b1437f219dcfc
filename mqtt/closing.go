package mqtt

import (
	"io"
	"net"
	"time"
)

// lingerTimeout bounds how long a connection the server ends is still read
// (and the bytes discarded) after its last write.
const lingerTimeout = 2 * time.Second

// closeGracefully ends a connection so that the peer can read everything
// sent last, such as a DISCONNECT with its reason: it stops writing (a
// TCP half-close: FIN after the data), reads and discards what the peer
// still sends for at most lingerTimeout or until the peer closes, then
// closes. Closing at once with the peer's data unread makes the kernel
// answer with a reset, and the peer may lose the DISCONNECT still in its
// receive queue or see a broken pipe. Connections that cannot half-close
// (WebSocket) are closed at once. It returns without waiting.
func closeGracefully(c net.Conn) error {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return c.Close()
	}
	if err := cw.CloseWrite(); err != nil {
		return c.Close()
	}
	go func() {
		t := time.AfterFunc(lingerTimeout, func() { _ = c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.Copy(io.Discard, c)
		t.Stop()
		_ = c.Close()
	}()
	return nil
}
