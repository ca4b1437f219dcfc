package mqtttest

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/gatetest"
)

// PahoOptions are paho.mqtt.golang options for an MQTT 3.1.1 client of
// addr ("tcp://..." or "ws://..."; a bare HOST:PORT means tcp) without
// reconnects, with 10 s connect and write timeouts.
func PahoOptions(addr, id, user, pass string) *paho.ClientOptions {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		addr = "tcp://" + addr
	}
	return paho.NewClientOptions().AddBroker(addr).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
}

// PahoConnect connects a paho.mqtt.golang client with o; err is the connect
// result. The caller disconnects it.
func PahoConnect(o *paho.ClientOptions) (paho.Client, error) {
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(gatetest.WaitTimeout) {
		return nil, fmt.Errorf("mqtttest: connect: no CONNACK within %v", gatetest.WaitTimeout)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

// MustPaho connects a paho.mqtt.golang client with o or fails the test; it
// disconnects when the test ends.
func MustPaho(t testing.TB, o *paho.ClientOptions) paho.Client {
	t.Helper()
	c, err := PahoConnect(o)
	if err != nil {
		t.Fatalf("mqtttest: connect %v as %q: %v", o.Servers, o.Username, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Paho connects an MQTT 3.1.1 client as user with its password, edited by
// opts, or fails the test; it disconnects when the test ends.
func (s *Server) Paho(t testing.TB, id, user string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := PahoOptions(s.Addr, id, user, s.Password(user))
	for _, f := range opts {
		f(o)
	}
	return MustPaho(t, o)
}

// Wait waits for tok and fails the test if it times out or failed.
func Wait(t testing.TB, tok paho.Token) {
	t.Helper()
	if !tok.WaitTimeout(gatetest.WaitTimeout) {
		t.Fatalf("mqtttest: token not done within %v", gatetest.WaitTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}

// Subscribe subscribes c to filter at qos, recording what arrives in a new
// Recorder, and returns it with the granted QoS (0x80 refused).
func Subscribe(t testing.TB, c paho.Client, filter string, qos byte) (*gatetest.Recorder, byte) {
	t.Helper()
	r := &gatetest.Recorder{}
	tok := c.Subscribe(filter, qos, r.Paho)
	Wait(t, tok)
	return r, tok.(*paho.SubscribeToken).Result()[filter]
}

// Paho5 connects a paho.golang MQTT 5 client as user with its password, or
// fails the test. Messages it receives go to rec if not nil. It
// disconnects when the test ends.
func (s *Server) Paho5(t testing.TB, id, user string, rec *gatetest.Recorder) *paho5.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho5.ClientConfig{Conn: conn, ClientID: id}
	if rec != nil {
		cfg.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){
			func(p paho5.PublishReceived) (bool, error) {
				rec.Add(gatetest.Message{Topic: p.Packet.Topic, Payload: string(p.Packet.Payload), QoS: p.Packet.QoS, Retain: p.Packet.Retain})
				return true, nil
			},
		}
	}
	c := paho5.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), gatetest.WaitTimeout)
	defer cancel()
	ack, err := c.Connect(ctx, &paho5.Connect{
		ClientID: id, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: user != "",
		Password: []byte(s.Password(user)), PasswordFlag: user != "",
	})
	if err != nil {
		conn.Close()
		t.Fatalf("mqtttest: MQTT 5 connect as %q: %v (%+v)", user, err, ack)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	return c
}

// DialRaw opens a byte-level MQTT 5 connection to the plain listener
// (nothing sent yet); it is closed when the test ends.
func (s *Server) DialRaw(t testing.TB) *gatetest.RawConn {
	t.Helper()
	return gatetest.DialRaw(t, s.Addr)
}

// ConnectRaw opens a byte-level connection, logs in as user with protocol
// version and checks the CONNACK accepts it.
func (s *Server) ConnectRaw(t testing.TB, id, user string, version byte) *gatetest.RawConn {
	t.Helper()
	r := s.DialRaw(t)
	r.Version = version
	r.Send(gatetest.ConnectPacket(id, user, s.Password(user), version))
	if ack := r.MustRecv(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("mqtttest: CONNACK for %q: reason %#x", user, ack.ReasonCode)
	}
	return r
}
