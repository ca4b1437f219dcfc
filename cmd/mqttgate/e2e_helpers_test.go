package main

import (
	"context"
	"net"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// connectV3 connects an MQTT 3.1.1 client and fails the test if it can't.
func connectV3(t *testing.T, g *gatetest.Gateway, user, pass, id string, clean bool) paho.Client {
	t.Helper()
	c, err := dialV3(g, user, pass, id, clean, nil)
	if err != nil {
		t.Fatalf("connect %s as %s: %v", id, user, err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func dialV3(g *gatetest.Gateway, user, pass, id string, clean bool, edit func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + g.MQTTAddr).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetProtocolVersion(4)
	if edit != nil {
		edit(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, context.DeadlineExceeded
	}
	return c, tok.Error()
}

func topicIs(topic string) func(gatetest.Message) bool {
	return func(m gatetest.Message) bool { return m.Topic == topic }
}

func subscribe(t *testing.T, c paho.Client, filter string, qos byte, b *gatetest.Recorder) {
	t.Helper()
	tok := c.Subscribe(filter, qos, b.Paho)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// connectV5 connects an MQTT 5 client.
func connectV5(t *testing.T, g *gatetest.Gateway, user, pass, id string, b *gatetest.Recorder) (*paho5.Client, *paho5.Connack, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho5.ClientConfig{Conn: conn}
	if b != nil {
		cfg.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){func(p paho5.PublishReceived) (bool, error) {
			b.Add(gatetest.Message{Topic: p.Packet.Topic, Payload: string(p.Packet.Payload), QoS: p.Packet.QoS, Retain: p.Packet.Retain})
			return true, nil
		}}
	}
	c := paho5.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho5.Connect{
		ClientID: id, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: user != "", Password: []byte(pass), PasswordFlag: pass != "",
	})
	if err == nil {
		t.Cleanup(func() { c.Disconnect(&paho5.Disconnect{}) })
	} else {
		conn.Close()
	}
	return c, ca, err
}
