package ws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
)

// dialSink starts a server with cfg whose connections go to a packet
// sink and dials it; the connection is closed when the test ends.
func dialSink(t *testing.T, cfg Config) (*packetSink, *websocket.Conn) {
	t.Helper()
	sink := newPacketSink()
	s := startServer(t, cfg, Deps{ServeConn: sink.serve})
	c, _, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return sink, c
}

func TestOnePacketOneBytePerMessage(t *testing.T) {
	sink, c := dialSink(t, testConfig(t))
	want := gatetest.PublishFrame("gw-1/sensors/t/state", bytes.Repeat([]byte("x"), 300)) // 2-byte remaining length
	for _, b := range want {
		if err := c.WriteMessage(websocket.BinaryMessage, []byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if got := recvPacket(t, sink.packets); !bytes.Equal(got, want) {
		t.Fatalf("packet split over %d messages arrived as %x, want %x", len(want), got, want)
	}
}

func TestHundredPacketsInOneMessage(t *testing.T) {
	sink, c := dialSink(t, testConfig(t))
	var msg []byte
	var want [][]byte
	for i := range 100 {
		p := gatetest.PublishFrame(fmt.Sprintf("t/%d", i), []byte(fmt.Sprintf("payload %d", i)))
		want = append(want, p)
		msg = append(msg, p...)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := recvPacket(t, sink.packets); !bytes.Equal(got, w) {
			t.Fatalf("packet %d = %x, want %x", i, got, w)
		}
	}
}

func TestWritesAreBinaryMessages(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: func(c net.Conn) error {
		_, err := io.Copy(c, c) // echo
		return err
	}})
	c, resp, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "mqtt" {
		t.Errorf("selected subprotocol %q, want mqtt", p)
	}
	want := gatetest.PublishFrame("a/b", []byte("hello"))
	if err := c.WriteMessage(websocket.BinaryMessage, want); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var got []byte
	for len(got) < len(want) {
		mt, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("server sent message type %d, want binary", mt)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo = %x, want %x", got, want)
	}
}

func TestTextFrameClosesWith1002(t *testing.T) {
	sink, c := dialSink(t, testConfig(t))
	if err := c.WriteMessage(websocket.TextMessage, []byte("\x10\x00")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseProtocolError {
		t.Fatalf("after a text frame the read error is %v, want a close with code 1002", err)
	}
	select {
	case err := <-sink.ended:
		if !errors.Is(err, ErrTextFrame) {
			t.Errorf("ServeConn's read error = %v, want ErrTextFrame", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ServeConn did not end")
	}
}

func TestLegacySubprotocolAccepted(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	d := websocket.Dialer{Subprotocols: []string{"mqttv3.1"}}
	c, resp, err := d.Dial(wsURL(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "mqttv3.1" {
		t.Errorf("selected subprotocol %q, want mqttv3.1", p)
	}
}

func TestMissingSubprotocolRefused(t *testing.T) {
	s := startServer(t, testConfig(t), Deps{ServeConn: newPacketSink().serve})
	for _, protos := range [][]string{nil, {"chat"}} {
		d := websocket.Dialer{Subprotocols: protos}
		_, resp, err := d.Dial(wsURL(s), nil)
		if err == nil {
			t.Fatalf("upgrade offering %v succeeded", protos)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("upgrade offering %v: resp %v, err %v; want 400", protos, resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !bytes.Contains(body, []byte("subprotocol")) {
			t.Errorf("400 body %q does not say what is wrong", body)
		}
	}
	if n := s.Refused("subprotocol"); n != 2 {
		t.Errorf("refused{subprotocol} = %d, want 2", n)
	}
}

// TestShutdownClosesWebSockets: Run's return must close hijacked conns.
func TestShutdownClosesWebSockets(t *testing.T) {
	sink := newPacketSink()
	cfg := testConfig(t)
	s, err := New(cfg, testLogger(t), Deps{Login: newLogin(t, loginCfg()), ServeConn: sink.serve})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	c, _, err := dial(t, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("client read after shutdown: %v, want close 1001", err)
	}
}

func TestKeepaliveReapsDeadPeer(t *testing.T) {
	cfg := testConfig(t)
	cfg.PingInterval = 50 * time.Millisecond
	cfg.PongTimeout = 100 * time.Millisecond
	sink, _ := dialSink(t, cfg) // open until the test ends
	// The client never reads, so it never answers pings: the server must
	// give up on it.
	select {
	case err := <-sink.ended:
		if err == nil {
			t.Fatal("ServeConn ended without error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a peer that never answers pings was not closed within 20 s")
	}
}

func TestKeepaliveKeepsLivePeer(t *testing.T) {
	cfg := testConfig(t)
	cfg.PingInterval = 20 * time.Millisecond
	cfg.PongTimeout = time.Second
	sink, c := dialSink(t, cfg)
	// Pings are at least PingInterval apart, so once this many have been
	// answered the peer has stayed connected for many ping intervals and
	// past one pong timeout: the connection lives on the pongs alone.
	enough := int64((cfg.PingInterval+cfg.PongTimeout)/cfg.PingInterval) + 10
	var pings atomic.Int64
	answered := make(chan struct{})
	c.SetPingHandler(func(data string) error {
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
		if err == nil && pings.Add(1) == enough {
			close(answered)
		}
		return err
	})
	go func() { // reading answers pings
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-answered:
	case err := <-sink.ended:
		t.Fatalf("a peer answering pings was closed after %d pings: %v", pings.Load(), err)
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d pings within 20 s, want %d", pings.Load(), enough)
	}
	want := gatetest.PublishFrame("still/here", nil)
	if err := c.WriteMessage(websocket.BinaryMessage, want); err != nil {
		t.Fatal(err)
	}
	if got := recvPacket(t, sink.packets); !bytes.Equal(got, want) {
		t.Fatalf("got %x", got)
	}
}
