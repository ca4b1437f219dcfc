package mqtt

import (
	"errors"
	"log/slog"
	"mqttgate/gatetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/field"
)

func TestPersistenceAcrossRestart(t *testing.T) {
	for _, interval := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(dir)
			cfg.SyncInterval = interval
			e := startBroker(t, cfg, nil)
			admin := mustConnect(t, e.addr(), "adm", "admin")
			wait(t, admin.Publish("gw/status", 1, true, "online"))
			persistent := func(o *paho.ClientOptions) { o.SetCleanSession(false) }
			sess, err := pahoConnect(e.addr(), "sess-1", "view", "pw-view", persistent)
			if err != nil {
				t.Fatal(err)
			}
			subscribe(t, sess, "q/#", 1)
			sess.Disconnect(100)
			wait(t, admin.Publish("q/1", 1, false, "while-away"))
			admin.Disconnect(100)
			e.stop()

			e2 := startBroker(t, cfg, e.logins)
			got := make(chan paho.Message, 10)
			sess, err = pahoConnect(e2.addr(), "sess-1", "view", "pw-view", persistent, func(o *paho.ClientOptions) {
				o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- m })
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Disconnect(100)
			select {
			case m := <-got:
				if m.Topic() != "q/1" || string(m.Payload()) != "while-away" {
					t.Fatalf("got %s %q", m.Topic(), m.Payload())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("queued QoS 1 message lost across restart")
			}
			ret, _ := subscribe(t, sess, "gw/status", 1)
			if m := ret.Next(t); m.Payload != "online" || !m.Retain {
				t.Fatalf("retained: %q retained=%v", m.Payload, m.Retain)
			}
			// The restored session kept its subscription and its access rules.
			c2 := mustConnect(t, e2.addr(), "adm2", "admin")
			wait(t, c2.Publish("q/2", 1, false, "after"))
			select {
			case m := <-got:
				if m.Topic() != "q/2" {
					t.Fatalf("got %s", m.Topic())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("restored subscription does not deliver")
			}
		})
	}
}

func TestPublishSubscribeIntercept(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	type msg struct {
		topic, payload string
		retained       bool
	}
	got := make(chan msg, 10)
	unsub, err := e.b.Subscribe("gw/#", func(topic string, p []byte, retained bool, _ byte) {
		got <- msg{topic, string(p), retained}
	})
	if err != nil {
		t.Fatal(err)
	}
	origins := make(chan string, 10)
	remove := e.b.Intercept(func(origin, topic string, _ []byte, _ bool, _ byte) error {
		origins <- origin
		if strings.HasPrefix(topic, "gw/blocked") {
			return errors.New("no commands while in maintenance")
		}
		return nil
	})
	if err := e.b.Publish("bridge", "gw/sensors/t/state", []byte(`{"t":1}`), true, 1); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.topic != "gw/sensors/t/state" || m.payload != `{"t":1}` {
		t.Fatalf("%+v", m)
	}
	if o := <-origins; o != "bridge" {
		t.Fatalf("origin %q", o)
	}
	if err := e.b.Publish("bridge", "gw/blocked/x", nil, false, 0); err == nil {
		t.Fatal("intercepted Publish returned nil")
	}
	<-origins
	// A network client's publish is refused with PUBACK 0x83 on MQTT 5.
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("adm5", "admin", "pw-admin", 5))
	r.MustRecv(packets.Connack)
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "gw/blocked/y", PacketID: 9})
	if pk := r.MustRecv(packets.Puback); pk.ReasonCode != 0x83 {
		t.Fatalf("intercepted: PUBACK %#x, want 0x83", pk.ReasonCode)
	}
	if o := <-origins; o != "adm5" {
		t.Fatalf("origin %q, want adm5", o)
	}
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "gw/ok", PacketID: 10, Payload: []byte("fine")})
	r.MustRecv(packets.Puback)
	if m := <-got; m.topic != "gw/ok" {
		t.Fatalf("got %+v; the refused message was delivered", m)
	}
	// MQTT 3.1.1 has no refusal code: the publisher is disconnected
	// without a PUBACK, so it keeps the message to send again.
	r3 := dialRaw(t, e.addr())
	r3.Send(connectPacket("adm3", "admin", "pw-admin", 4))
	if pk, err := gatetest.ReadPacket(r3.R, 4); err != nil || pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		t.Fatalf("v3 CONNACK %+v, %v", pk, err)
	}
	r3.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "gw/blocked/v3", PacketID: 11})
	if pk, err := gatetest.ReadPacket(r3.R, 4); err == nil {
		t.Fatalf("v3 publisher refused by an interceptor got packet type %d, want the connection closed", pk.FixedHeader.Type)
	}
	<-origins
	// Retained messages reach a new subscription.
	late := make(chan string, 10)
	unsub2, _ := e.b.Subscribe("gw/sensors/#", func(topic string, _ []byte, retained bool, _ byte) {
		if retained {
			late <- topic
		}
	})
	defer unsub2()
	select {
	case tp := <-late:
		if tp != "gw/sensors/t/state" {
			t.Fatal(tp)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no retained message on Subscribe")
	}
	remove()
	unsub()
	if err := e.b.Publish("bridge", "gw/blocked/z", nil, false, 0); err != nil {
		t.Fatalf("interceptor still active after remove: %v", err)
	}
	select {
	case m := <-got:
		t.Fatalf("delivered after unsubscribe: %+v", m)
	default:
	}
}

func TestShutdownDisconnects(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	r := dialRaw(t, e.addr())
	r.Send(connectPacket("v5", "view", "pw-view", 5))
	r.MustRecv(packets.Connack)
	if !e.b.Healthy() {
		t.Fatal("not healthy while serving")
	}
	e.stop()
	if pk := r.MustRecv(packets.Disconnect); pk.ReasonCode != 0x8B {
		t.Fatalf("DISCONNECT %#x, want 0x8B", pk.ReasonCode)
	}
	if e.b.Healthy() {
		t.Fatal("healthy after stop")
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := Config{TLSAddr: "nope", SyncInterval: -1, AllowAnonymous: true, AnonymousRole: "ghost",
		Roles: map[string]Role{"admin": {}, "bad": {Read: []string{"a/#/b", "x%y", "a+/b"}}}}
	err := errors.Join(cfg.Validate(), field.Prefix("roles", ValidateRoles(cfg.Roles)))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"tls_addr: \"nope\"", "tls_addr: set needs", "data_dir:", "sync_interval:", "anonymous_role: \"ghost\"",
		"roles.admin: is a built-in", "roles.bad.read[0]: \"a/#/b\"", "roles.bad.read[1]: \"x%y\"", "roles.bad.read[2]: \"a+/b\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestBadTLSKeyPair(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(cert, []byte("not a cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.TLSAddr, cfg.TLSCert, cfg.TLSKey = "127.0.0.1:0", cert, cert
	_, err := New(cfg, slog.New(slog.DiscardHandler), newLogins(t, dir, loginCfg()))
	if err == nil || !strings.Contains(err.Error(), "load TLS key pair") {
		t.Fatalf("err = %v", err)
	}
}
