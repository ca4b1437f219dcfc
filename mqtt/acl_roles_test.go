package mqtt_test

import (
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/mqtt/mqtttest"
)

// The roles as clients see them, through the broker's exported API only.

func TestACLRoles(t *testing.T) {
	s := mqtttest.NewServer(t, mqtttest.Config(t), nil)
	admin := s.Paho(t, "adm", "admin")
	all, _ := mqtttest.Subscribe(t, admin, "#", 1)

	dev := s.Paho(t, "dev1-c", "dev1")
	devAll, code := mqtttest.Subscribe(t, dev, "#", 1)
	if code != 1 {
		t.Fatalf("device subscribe # granted %#x, want 1 (filtered per topic)", code)
	}
	if _, code := mqtttest.Subscribe(t, dev, "devices/dev2/#", 1); code != 0x80 {
		t.Fatalf("device subscribe to another device: %#x, want 0x80", code)
	}
	if _, code := mqtttest.Subscribe(t, dev, "$SYS/#", 0); code != 0x80 {
		t.Fatalf("device subscribe $SYS: %#x, want 0x80", code)
	}
	// Device writes its own tree; MQTT 3.1.1 writes elsewhere are acked and dropped.
	mqtttest.Wait(t, dev.Publish("devices/dev2/t", 1, false, "intruder"))
	mqtttest.Wait(t, dev.Publish("devices/dev1/t", 1, false, "mine"))
	if m := all.Next(t); m.Topic != "devices/dev1/t" {
		t.Fatalf("admin got %s first; denied publish was delivered", m.Topic)
	}
	// Admin publishes on another device's topic: dev1 (subscribed to #) must not get it.
	mqtttest.Wait(t, admin.Publish("devices/dev2/t", 1, false, "x"))
	mqtttest.Wait(t, admin.Publish("devices/dev1/in", 1, false, "y"))
	if m := devAll.Next(t); m.Topic != "devices/dev1/t" {
		t.Fatalf("dev got %s", m.Topic)
	}
	if m := devAll.Next(t); m.Topic != "devices/dev1/in" {
		t.Fatalf("dev got %s, want devices/dev1/in (devices/dev2/t must be filtered)", m.Topic)
	}

	// Operator: reads all, writes only actuator commands.
	op := s.Paho(t, "op-c", "op")
	mqtttest.Wait(t, op.Publish("gw/sensors/t/state", 1, false, "fake"))
	mqtttest.Wait(t, op.Publish("gw/actuators/led/set", 1, false, "on"))
	for {
		m := all.Next(t)
		if m.Topic == "gw/sensors/t/state" {
			t.Fatal("operator wrote a sensor topic")
		}
		if m.Topic == "gw/actuators/led/set" {
			break
		}
	}
	// Viewer: $SYS readable, nothing writable (v5: PUBACK 0x87, SUBACK ok).
	view := s.Paho(t, "view-c", "view")
	sys, code := mqtttest.Subscribe(t, view, "$SYS/broker/version", 0)
	if code != 0 {
		t.Fatalf("viewer $SYS subscribe: %#x", code)
	}
	if m := sys.Next(t); m.Payload == "" {
		t.Fatal("empty $SYS/broker/version")
	}
	r := s.ConnectRaw(t, "view5", "view", 5)
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "a", PacketID: 3, Payload: []byte("x")})
	if pk := r.MustRecv(packets.Pubrec); pk.ReasonCode != 0x87 {
		t.Fatalf("viewer QoS 2 publish: PUBREC %#x, want 0x87", pk.ReasonCode)
	}
	r.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 4,
		Filters: packets.Subscriptions{{Filter: "x/#", Qos: 1}}})
	if pk := r.MustRecv(packets.Suback); len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] != 1 {
		t.Fatalf("viewer subscribe: %v", pk.ReasonCodes)
	}
	if !strings.Contains(s.Logs.String(), "publish denied") {
		t.Error("denied publish not logged")
	}
}

func TestDollarTopicsNotMatchedByHash(t *testing.T) {
	s := mqtttest.NewServer(t, mqtttest.Config(t), nil)
	admin := s.Paho(t, "adm", "admin")
	all, _ := mqtttest.Subscribe(t, admin, "#", 0)
	mqtttest.Wait(t, admin.Publish("marker", 0, false, "m"))
	for {
		m := all.Next(t)
		if len(m.Topic) > 0 && m.Topic[0] == '$' {
			t.Fatalf("# delivered %s", m.Topic)
		}
		if m.Topic == "marker" {
			break
		}
	}
	sys, _ := mqtttest.Subscribe(t, admin, "$SYS/#", 0)
	if m := sys.Next(t); m.Topic[:4] != "$SYS" {
		t.Fatal(m.Topic)
	}
}
