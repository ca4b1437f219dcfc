package mqtttest_test

import (
	"context"
	"testing"

	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
	"mqttgate/mqtt/mqtttest"
)

// TestServerClients: each kind of client logs in to a test server, and a
// message from one reaches the others.
func TestServerClients(t *testing.T) {
	s := mqtttest.NewServer(t, mqtttest.Config(t), nil)
	sub := s.Paho(t, "sub", "view")
	got, granted := mqtttest.Subscribe(t, sub, "gw/#", 1)
	if granted != 1 {
		t.Fatalf("granted QoS %d, want 1", granted)
	}
	var got5 gatetest.Recorder
	c5 := s.Paho5(t, "sub5", "view", &got5)
	if _, err := c5.Subscribe(context.Background(), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "gw/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	raw := s.ConnectRaw(t, "raw", "admin", 5)
	raw.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7, TopicName: "gw/x", Payload: []byte("hi")})
	if ack := raw.MustRecv(packets.Puback); ack.PacketID != 7 || ack.ReasonCode != 0 {
		t.Fatalf("PUBACK %d reason %#x", ack.PacketID, ack.ReasonCode)
	}
	for name, r := range map[string]*gatetest.Recorder{"paho": got, "paho.golang": &got5} {
		if m := r.Next(t); m.Topic != "gw/x" || m.Payload != "hi" {
			t.Errorf("%s received %+v", name, m)
		}
	}
	if _, err := mqtttest.PahoConnect(mqtttest.PahoOptions(s.Addr, "bad", "view", "wrong")); err == nil {
		t.Error("a wrong password was accepted")
	}
	s.Close()
	s.Close()
	if s.Broker.Healthy() {
		t.Error("the broker is healthy after Close")
	}
}
