package ws

import (
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
)

func newPool() *sync.Pool { return &sync.Pool{} }

// BenchmarkConnRead measures reading 1 KiB MQTT packets, one per message,
// through the adapter.
func BenchmarkConnRead(b *testing.B) {
	const size = 1024
	p := newAdapterPeer(b, connOptions{writeTimeout: 10 * time.Second, readLimit: 1 << 20})
	c, sc := p.dial(b)
	defer c.Close()
	defer sc.Close()
	msg := gatetest.PublishFrame("gw-1/sensors/bme280/state", make([]byte, size-30))
	go func() {
		for {
			if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := io.ReadFull(sc, buf[:len(msg)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer() // the deferred closes wait up to 1 s for the close handshake
}

// BenchmarkConnWrite measures writing 1 KiB MQTT packets through the
// adapter, each one a binary message.
func BenchmarkConnWrite(b *testing.B) {
	const size = 1024
	p := newAdapterPeer(b, connOptions{writeTimeout: 10 * time.Second, readLimit: 1 << 20})
	c, sc := p.dial(b)
	defer c.Close()
	defer sc.Close()
	go func() {
		for {
			_, r, err := c.NextReader()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, r)
		}
	}()
	msg := gatetest.PublishFrame("gw-1/sensors/bme280/state", make([]byte, size-30))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := sc.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer() // the deferred closes wait up to 1 s for the close handshake
}
