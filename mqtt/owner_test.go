package mqtt

import (
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// takeOver sends a CONNECT with clean session 0 for id as user and returns
// the CONNACK's reason code and session-present flag.
func takeOver(t *testing.T, addr, id, user string, v byte) (code byte, present bool) {
	t.Helper()
	r, ack, err := dialPersistent(t, addr, id, user, v)
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("v%d %s as %s: %v (type %d), want a CONNACK", v, id, user, err, ack.FixedHeader.Type)
	}
	if ack.ReasonCode != 0 {
		r.ExpectClosed()
	}
	return ack.ReasonCode, ack.SessionPresent
}

func TestSessionBelongsToItsUser(t *testing.T) {
	cfg := testConfig(t.TempDir())
	e := startBroker(t, cfg, nil)
	persistent := func(o *paho.ClientOptions) { o.SetCleanSession(false) }
	victim, err := pahoConnect(e.addr(), "victim-sess", "dev1", "pw-dev1", persistent)
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, victim, "devices/dev1/#", 1)
	victim.Disconnect(100)
	admin := mustConnect(t, e.addr(), "adm", "admin")
	wait(t, admin.Publish("devices/dev1/cmd", 1, false, "secret"))

	check := func(e *testEnv) {
		t.Helper()
		for _, v := range []byte{4, 5} {
			want := byte(5)
			if v == 5 {
				want = 0x87
			}
			if code, present := takeOver(t, e.addr(), "victim-sess", "dev2", v); code != want || present {
				t.Fatalf("v%d: dev2 taking over dev1's session: CONNACK %#x present=%v, want %#x", v, code, present, want)
			}
		}
		if !strings.Contains(e.logs.String(), "belongs to another user") {
			t.Errorf("refusal not logged:\n%s", e.logs.String())
		}
		// The session is untouched: its owner finds the message.
		got := &gatetest.Recorder{}
		c, err := pahoConnect(e.addr(), "victim-sess", "dev1", "pw-dev1", persistent, func(o *paho.ClientOptions) {
			o.SetDefaultPublishHandler(got.Paho)
		})
		if err != nil {
			t.Fatal(err)
		}
		if m := got.Next(t); m.Payload != "secret" {
			t.Fatalf("owner got %q", m.Payload)
		}
		// A connected client cannot be kicked by another user either.
		if code, _ := takeOver(t, e.addr(), "victim-sess", "dev2", 5); code != 0x87 {
			t.Fatalf("dev2 taking over a live dev1 connection: CONNACK %#x, want 0x87", code)
		}
		if !c.IsConnectionOpen() {
			t.Fatal("dev1's connection was closed by another user's CONNECT")
		}
		m, _ := subscribe(t, c, "devices/dev1/ping", 1)
		wait(t, admin.Publish("devices/dev1/ping", 1, false, "p"))
		m.Next(t)
		wait(t, admin.Publish("devices/dev1/cmd", 1, false, "secret"))
		c.Disconnect(100)
	}
	check(e)
	// Its own user takes it over.
	if code, present := takeOver(t, e.addr(), "victim-sess", "dev1", 5); code != 0 || !present {
		t.Fatalf("owner: CONNACK %#x present=%v, want 0 and present", code, present)
	}
	wait(t, admin.Publish("devices/dev1/cmd", 1, false, "secret"))
	admin.Disconnect(100)
	e.stop()

	// After a restart the owner comes from the store.
	e2 := startBroker(t, cfg, e.logins)
	admin = mustConnect(t, e2.addr(), "adm", "admin")
	check(e2)
}

func TestCleanSessionIDTakenByOtherUserRefused(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	c := mustConnect(t, e.addr(), "shared-id", "dev1")
	r := dialRaw(t, e.addr())
	r.Version = 4
	r.Send(connectPacket("shared-id", "dev2", "pw-dev2", 4))
	if pk, err := r.Recv(); err != nil || pk.ReasonCode != 5 {
		t.Fatalf("CONNACK %#x %v, want 5", pk.ReasonCode, err)
	}
	if !c.IsConnectionOpen() {
		t.Fatal("dev1 was disconnected by dev2 reusing its client id")
	}
	c.Disconnect(100)
	// Once dev1 is gone, the id is free (a clean session leaves nothing).
	waitFor(t, "dev1 gone", 20*time.Second, func() bool { _, ok := e.b.srv.Clients.Get("shared-id"); return !ok })
	mustConnect(t, e.addr(), "shared-id", "dev2")
}
