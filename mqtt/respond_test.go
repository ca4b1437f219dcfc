package mqtt

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
)

// v5client is a paho.golang client whose received PUBLISHes arrive on got.
func v5client(t *testing.T, addr, user string) (*paho5.Client, chan *paho5.Publish) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho5.Publish, 16)
	c := paho5.NewClient(paho5.ClientConfig{Conn: conn, OnPublishReceived: []func(paho5.PublishReceived) (bool, error){
		func(p paho5.PublishReceived) (bool, error) { got <- p.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho5.Connect{ClientID: "rr-" + user, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte("pw-" + user), PasswordFlag: true}); err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	t.Cleanup(func() { c.Disconnect(&paho5.Disconnect{}) })
	return c, got
}

// Requests [MQTT-4.10]: a device may ask on the served topic although it
// may not write there; the answer comes back to it alone, on its Response
// Topic with its Correlation Data, and the responder learns what the
// device may read. The request is delivered to nobody.
func TestRespondRequestResponse(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	remove, err := e.b.Respond("gw/history/query", func(p []byte, canRead func(string) bool) []byte {
		return []byte(string(p) + " own=" + strconv.FormatBool(canRead("devices/dev1/x")) + " other=" + strconv.FormatBool(canRead("devices/dev2/x")))
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, seen := v5client(t, e.addr(), "admin")
	if _, err := admin.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	dev, got := v5client(t, e.addr(), "dev1")
	sa, err := dev.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{
		{Topic: "devices/dev1/replies"}, {Topic: "$reply/rr-dev1/#"}, {Topic: "$reply/rr-admin/#"}, {Topic: "$reply/+/#"}}})
	if err != nil && sa == nil {
		t.Fatal(err)
	}
	if want := []byte{0, 0, 0x87, 0x87}; string(sa.Reasons) != string(want) {
		t.Fatalf("SUBACK %x, want %x: a client's own reply space only", sa.Reasons, want)
	}
	ask := func(resp, corr string) {
		t.Helper()
		pr, err := dev.Publish(ctx, &paho5.Publish{Topic: "gw/history/query", QoS: 1, Payload: []byte("q-" + corr),
			Properties: &paho5.PublishProperties{ResponseTopic: resp, CorrelationData: []byte(corr)}})
		if err != nil || pr.ReasonCode != 0 {
			t.Fatalf("request %s: %v %+v; want PUBACK 0x00", corr, err, pr)
		}
	}
	ask("devices/dev2/replies", "not-mine") // a response topic dev1 may not read: no answer
	ask("devices/dev1/replies", "c1")
	ask("$reply/rr-dev1/history", "c2")
	for _, want := range []struct{ topic, corr string }{{"devices/dev1/replies", "c1"}, {"$reply/rr-dev1/history", "c2"}} {
		select {
		case p := <-got:
			if p.Topic != want.topic || string(p.Properties.CorrelationData) != want.corr ||
				string(p.Payload) != "q-"+want.corr+" own=true other=false" {
				t.Fatalf("answer = %s %q corr %q; want %s %q", p.Topic, p.Payload, p.Properties.CorrelationData, want.topic, "q-"+want.corr+" own=true other=false")
			}
		case <-ctx.Done():
			t.Fatalf("no answer on %s", want.topic)
		}
	}
	// A marker published after the requests reaches admin; nothing before it.
	if _, err := admin.Publish(ctx, &paho5.Publish{Topic: "marker", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-seen:
		if p.Topic != "marker" {
			t.Fatalf("a subscriber to # saw %s %q; requests and answers go to nobody else", p.Topic, p.Payload)
		}
	case <-ctx.Done():
		t.Fatal("marker not seen")
	}
	remove()
	pr, err := dev.Publish(ctx, &paho5.Publish{Topic: "gw/history/query", QoS: 1, Payload: []byte("q"),
		Properties: &paho5.PublishProperties{ResponseTopic: "devices/dev1/replies", CorrelationData: []byte("late")}})
	if pr == nil || pr.ReasonCode != 0x87 {
		t.Fatalf("after remove, a device publishing to the topic: %v %+v; want PUBACK 0x87 (its write rules again)", err, pr)
	}
}
