package ws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"mqttgate/login"
	"mqttgate/mqtt"
)

// chap1Auther answers the in-band chap1 challenge (spec section 5).
type chap1Auther struct {
	t                         *testing.T
	user, clientID, password  string
	authenticated, challenged chan struct{}
}

func (a *chap1Auther) Authenticate(in *paho.Auth) *paho.Auth {
	close(a.challenged)
	var ch struct {
		Nonce      string `json:"nonce"`
		Salt       string `json:"salt"`
		Iterations int    `json:"iterations"`
	}
	if in.ReasonCode != 0x18 || in.Properties == nil || in.Properties.AuthMethod != "chap1" {
		a.t.Errorf("server AUTH: reason %#x props %+v, want 0x18 chap1", in.ReasonCode, in.Properties)
	}
	if err := json.Unmarshal(in.Properties.AuthData, &ch); err != nil {
		a.t.Errorf("server AUTH data: %v", err)
	}
	salt, _ := base64.RawURLEncoding.DecodeString(ch.Salt)
	proof := login.Proof(login.ClientKey(a.password, salt, ch.Iterations), ch.Nonce, a.user, a.clientID)
	return &paho.Auth{ReasonCode: 0x18, Properties: &paho.AuthProperties{AuthMethod: "chap1", AuthData: proof}}
}

func (a *chap1Auther) Authenticated() { close(a.authenticated) }

// dialMQTTConn opens /mqtt and wraps the client end in the same
// stream adapter, so an MQTT library can use it as a net.Conn.
func dialMQTTConn(t *testing.T, s *Server) net.Conn {
	t.Helper()
	wc, _, err := dial(t, s, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(wc, wc.RemoteAddr(), connOptions{writeTimeout: 20 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// connect5 runs an MQTT 5 CONNECT with the given auth method over wss.
func connect5(t *testing.T, g *gateway, clientID, method, password string) (*paho.Connack, *chap1Auther, error) {
	t.Helper()
	a := &chap1Auther{t: t, user: testUser, clientID: clientID, password: password,
		authenticated: make(chan struct{}), challenged: make(chan struct{})}
	c := paho.NewClient(paho.ClientConfig{ClientID: clientID, Conn: dialMQTTConn(t, g.srv), AuthHandler: a})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, Username: testUser, UsernameFlag: true,
		KeepAlive: 30, CleanStart: true, Properties: &paho.ConnectProperties{AuthMethod: method}})
	if err == nil {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	}
	return ca, a, err
}

func TestInBandChap1OverWebSocket(t *testing.T) {
	g := startGateway(t, login.Config{MaxFailures: 100}, TLSAuto)
	ca, a, err := connect5(t, g, "dash-5", "chap1", testPassword)
	if err != nil {
		t.Fatalf("in-band chap1 refused: %v (connack %+v)", err, ca)
	}
	if ca.ReasonCode != 0 || ca.Properties == nil || ca.Properties.AuthMethod != "chap1" {
		t.Fatalf("CONNACK %+v, want success with method chap1", ca)
	}
	select {
	case <-a.challenged:
	default:
		t.Fatal("the server never sent an AUTH challenge")
	}

	ca, _, err = connect5(t, g, "dash-6", "chap1", "wrong")
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("wrong proof: err %v connack %+v, want 0x87", err, ca)
	}
	ca, _, err = connect5(t, g, "dash-7", "SCRAM-SHA-1", testPassword)
	if err == nil || ca == nil || ca.ReasonCode != 0x8C {
		t.Fatalf("unknown method: err %v connack %+v, want 0x8C", err, ca)
	}
}

// TestInBandTimeout: a client that never answers the challenge is dropped.
func TestInBandTimeout(t *testing.T) {
	g := startGateway(t, login.Config{MaxFailures: 100}, TLSOff, func(c *mqtt.Config) { c.InBandTimeout = time.Second })
	wc, _, err := dial(t, g.srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	// MQTT 5 CONNECT, client id "t1", username alice, auth method chap1.
	connect := []byte{0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x82, 0, 30,
		8, 0x15, 0, 5, 'c', 'h', 'a', 'p', '1', // properties: authentication method
		0, 2, 't', '1', 0, 5, 'a', 'l', 'i', 'c', 'e'}
	connect[1] = byte(len(connect) - 2)
	if err := wc.WriteMessage(websocket.BinaryMessage, connect); err != nil {
		t.Fatal(err)
	}
	_ = wc.SetReadDeadline(time.Now().Add(40 * time.Second))
	_, msg, err := wc.ReadMessage()
	if err != nil || len(msg) == 0 || msg[0]>>4 != 15 {
		t.Fatalf("first packet %x (%v), want AUTH", msg, err)
	}
	// Do not answer; the server must end the exchange (InBandTimeout).
	for {
		_, msg, err := wc.ReadMessage()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server did not end an unanswered in-band exchange")
		}
		if err != nil {
			return // dropped
		}
		if msg[0]>>4 == 2 {
			if len(msg) < 4 || msg[3] == 0 {
				t.Fatalf("CONNACK %x after an unanswered challenge, want a refusal", msg)
			}
		}
	}
}
