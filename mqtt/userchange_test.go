package mqtt

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
	"mqttgate/login"
)

// endsWithin checks that the server ends r's connection within d (an MQTT
// 5 DISCONNECT may come first).
func endsWithin(t *testing.T, r *raw, d time.Duration) {
	t.Helper()
	_ = r.Conn.SetReadDeadline(time.Now().Add(d))
	for {
		pk, err := r.Recv()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection still open after %v", d)
		}
		if err != nil {
			return
		}
		if pk.FixedHeader.Type == packets.Disconnect && pk.ReasonCode != packets.ErrNotAuthorized.Code {
			t.Errorf("DISCONNECT %#x, want 0x87", pk.ReasonCode)
		}
	}
}

func TestUserChangesEndSessions(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.PlainOnWebSocket = true
	e := startBroker(t, cfg, nil)
	tcp := dialRaw(t, e.addr())
	tcp.Send(connectPacket("d1-tcp", "dev1", "pw-dev1", 5))
	if pk := tcp.MustRecv(packets.Connack); pk.ReasonCode != 0 {
		t.Fatalf("tcp CONNACK %#x", pk.ReasonCode)
	}
	srvSide, cliSide := pipeTCP(t)
	go func() { _ = e.b.ServeConn(srvSide) }()
	ws := gatetest.NewRawConn(t, cliSide)
	ws.Send(connectPacket("d1-ws", "dev1", "pw-dev1", 5))
	if pk := ws.MustRecv(packets.Connack); pk.ReasonCode != 0 {
		t.Fatalf("ws CONNACK %#x", pk.ReasonCode)
	}
	sess, err := pahoConnect(e.addr(), "d1-sess", "dev1", "pw-dev1", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, sess, "devices/dev1/#", 1)
	sess.Disconnect(100)
	other := mustConnect(t, e.addr(), "d2", "dev2")

	// `mqttgate user del dev1` in another process.
	users, err := login.OpenUsers(filepath.Join(e.dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := users.Delete("dev1"); err != nil {
		t.Fatal(err)
	}
	endsWithin(t, tcp, 3*time.Second)
	endsWithin(t, ws, 3*time.Second)
	t.Logf("dev1's connections ended %v after the users file changed", time.Since(start))
	waitFor(t, "dev1's stored session to end", 3*time.Second, func() bool {
		_, ok := e.b.srv.Clients.Get("d1-sess")
		return !ok
	})
	if !other.IsConnectionOpen() {
		t.Fatal("dev2 was disconnected by dev1's deletion")
	}

	// A new password ends the user's connections too.
	if err := users.SetPassword("dev2", "new", testIterations); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dev2's connection to end", 3*time.Second, func() bool { return !other.IsConnectionOpen() })
	if _, err := pahoConnect(e.addr(), "d2", "dev2", "new"); err != nil {
		t.Fatalf("dev2 with its new password: %v", err)
	}
}
