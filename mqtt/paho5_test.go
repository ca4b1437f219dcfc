package mqtt

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// The broker as a real third-party MQTT 5 client sees it: paho.golang
// checks PUBACK reason codes, honours Server Keep Alive, and hands the
// application subscription identifiers, user properties and topic aliases.

type pahoMsg struct {
	topic   string
	alias   uint16
	subID   int
	user    string
	payload string
}

// pahoV5 connects a paho.golang client as admin; msgs receives what it is
// delivered.
func pahoV5(t *testing.T, addr, id string, keepAlive uint16, props *paho5.ConnectProperties) (*paho5.Client, *paho5.Connack, chan pahoMsg) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan pahoMsg, 100)
	c := paho5.NewClient(paho5.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			m := pahoMsg{topic: pr.Packet.Topic, payload: string(pr.Packet.Payload)}
			if p := pr.Packet.Properties; p != nil {
				if p.TopicAlias != nil {
					m.alias = *p.TopicAlias
				}
				if p.SubscriptionIdentifier != nil {
					m.subID = *p.SubscriptionIdentifier
				}
				m.user = p.User.Get("unit")
			}
			msgs <- m
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho5.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Username: "admin", UsernameFlag: true, Password: []byte("pw-admin"), PasswordFlag: true, Properties: props})
	if err != nil {
		t.Fatalf("paho.golang connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	return c, ca, msgs
}

func TestPahoGolangClientView(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Server Keep Alive [MQTT-3.2.2-21]: asked for none, told 3600 s.
	aliasMax := uint16(4)
	sub, ca, msgs := pahoV5(t, e.addr(), "paho-sub", 0, &paho5.ConnectProperties{TopicAliasMaximum: &aliasMax})
	if ca.Properties == nil || ca.Properties.ServerKeepAlive == nil || *ca.Properties.ServerKeepAlive != 3600 {
		t.Errorf("CONNACK Server Keep Alive %v, want 3600", ca.Properties)
	}
	// Maximum Packet Size (3.2.2.3.6): mqtt.max_packet_size, 1 MiB by default.
	if ca.Properties == nil || ca.Properties.MaximumPacketSize == nil || *ca.Properties.MaximumPacketSize != 1<<20 {
		t.Errorf("CONNACK Maximum Packet Size %v, want %d", ca.Properties, 1<<20)
	}
	subID := 42
	if _, err := sub.Subscribe(ctx, &paho5.Subscribe{Properties: &paho5.SubscribeProperties{SubscriptionIdentifier: &subID},
		Subscriptions: []paho5.SubscribeOptions{{Topic: "paho/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}

	pub, _, _ := pahoV5(t, e.addr(), "paho-pub", 30, nil)
	const n = 6
	for i := range n {
		qos := byte(i % 3)
		pr, err := pub.Publish(ctx, &paho5.Publish{Topic: "paho/temperature", QoS: qos, Payload: []byte(fmt.Sprint(i)),
			Properties: &paho5.PublishProperties{User: paho5.UserProperties{{Key: "unit", Value: "C"}}}})
		if err != nil {
			t.Fatalf("publish QoS %d: %v", qos, err)
		}
		if qos > 0 {
			if pr.ReasonCode != 0 {
				t.Errorf("QoS %d: reason code %#x, want 0x00 (section 3.4.2.1)", qos, pr.ReasonCode)
			}
			if pr.Properties != nil && (len(pr.Properties.User) > 0 || pr.Properties.ReasonString != "") {
				t.Errorf("QoS %d: ack carries %v / %q, want no properties", qos, pr.Properties.User, pr.Properties.ReasonString)
			}
		}
	}
	aliases := map[uint16]string{}
	aliasOnly := 0
	for i := range n {
		var m pahoMsg
		select {
		case m = <-msgs:
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", i)
		}
		if m.alias > aliasMax {
			t.Errorf("message %d: Topic Alias %d above the client's maximum %d", i, m.alias, aliasMax)
		}
		if m.alias > 0 {
			if m.topic == "" {
				m.topic = aliases[m.alias]
				aliasOnly++
			} else {
				aliases[m.alias] = m.topic
			}
		}
		if m.topic != "paho/temperature" || m.payload != fmt.Sprint(i) || m.subID != subID || m.user != "C" {
			t.Errorf("message %d: %+v, want topic paho/temperature, payload %d, subscription id %d, user property unit=C", i, m, i, subID)
		}
	}
	if aliasOnly == 0 {
		t.Error("paho.golang saw no topic alias used")
	}
}
