package ws

import (
	"strings"
	"testing"

	"mqttgate/login"
	"mqttgate/mqtt/mqtttest"
)

// TestClientIDBelongsToItsUser: over the WebSocket as over TCP, a client
// id held by another user's connection is refused and the holder stays.
func TestClientIDBelongsToItsUser(t *testing.T) {
	g := startGateway(t, login.Config{MaxFailures: 100}, TLSOff)
	// alice holds an id on TCP; bob cannot take it over the WebSocket.
	alice := g.tcpClient(t, "alice-tcp")
	ch := g.challenge(t, "bob", "")
	if c, err := g.wsClient(t, "alice-tcp", "bob", chap1(t, ch, "bob", "alice-tcp", testPassword), ""); err == nil {
		c.Disconnect(0)
		t.Fatal("bob took alice's client id over the WebSocket")
	} else if !strings.Contains(strings.ToLower(err.Error()), "not authorized") {
		t.Fatalf("bob with alice's client id: %v, want not authorized", err)
	}
	if !alice.IsConnectionOpen() {
		t.Fatal("alice's TCP connection was closed by bob's CONNECT")
	}
	// bob holds an id on the WebSocket; alice cannot take it over TCP.
	ch = g.challenge(t, "bob", "")
	bob, err := g.wsClient(t, "bob-ws", "bob", chap1(t, ch, "bob", "bob-ws", testPassword), "")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := mqtttest.PahoConnect(mqtttest.PahoOptions(g.broker.TCPAddr().String(), "bob-ws", testUser, testPassword)); err == nil {
		c.Disconnect(0)
		t.Fatal("alice took bob's WebSocket client id over TCP")
	}
	if !bob.IsConnectionOpen() {
		t.Fatal("bob's WebSocket connection was closed by alice's CONNECT")
	}
	// Its own user takes an id over.
	ch = g.challenge(t, "bob", "")
	if _, err := g.wsClient(t, "bob-ws", "bob", chap1(t, ch, "bob", "bob-ws", testPassword), ""); err != nil {
		t.Fatalf("bob taking over his own id: %v", err)
	}
}
