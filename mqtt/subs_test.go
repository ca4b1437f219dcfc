package mqtt

import (
	"strconv"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// subscribeRaw sends one SUBSCRIBE with filters and returns the SUBACK's
// reason codes.
func subscribeRaw(t *testing.T, r *raw, v byte, id uint16, filters ...string) []byte {
	t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id, ProtocolVersion: v}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	r.Send(pk)
	for {
		ack, err := r.Recv()
		if err != nil {
			t.Fatalf("SUBACK: %v", err)
		}
		if ack.FixedHeader.Type == packets.Suback {
			return ack.ReasonCodes
		}
	}
}

// dialPersistent connects id as user with clean session 0 (and a session
// expiry on MQTT 5) and returns the connection and its CONNACK.
func dialPersistent(t *testing.T, addr, id, user string, v byte) (*raw, packets.Packet, error) {
	t.Helper()
	r := dialRaw(t, addr)
	r.Version = v
	pk := connectPacket(id, user, "pw-"+user, v)
	pk.Connect.Clean = false
	if v == 5 {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
	}
	r.Send(pk)
	ack, err := r.Recv()
	return r, ack, err
}

// persistentRaw is dialPersistent that fails the test unless it connects.
func persistentRaw(t *testing.T, addr, id, user string, v byte) *raw {
	t.Helper()
	r, ack, err := dialPersistent(t, addr, id, user, v)
	if err != nil || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x %v", ack.ReasonCode, err)
	}
	return r
}

func TestMaxSubscriptions(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxSubscriptions = 3
	e := startBroker(t, cfg, nil)
	r := persistentRaw(t, e.addr(), "many-subs", "admin", 5)
	codes := subscribeRaw(t, r, 5, 1, "a/1", "a/2", "a/3", "a/4", "a/5")
	if string(codes) != string([]byte{1, 1, 1, 0x97, 0x97}) {
		t.Fatalf("SUBACK % x, want 01 01 01 97 97", codes)
	}
	// Subscribing again to a filter it has is no new subscription.
	if codes := subscribeRaw(t, r, 5, 2, "a/2", "a/6"); string(codes) != string([]byte{1, 0x97}) {
		t.Fatalf("SUBACK % x, want 01 97", codes)
	}
	r3 := persistentRaw(t, e.addr(), "many-subs-3", "admin", 4)
	if codes := subscribeRaw(t, r3, 4, 1, "b/1", "b/2", "b/3", "b/4"); string(codes) != string([]byte{1, 1, 1, 0x80}) {
		t.Fatalf("MQTT 3.1.1 SUBACK % x, want 01 01 01 80", codes)
	}
	if n := e.b.srv.Info.Subscriptions; n != 6 {
		t.Errorf("%d subscriptions counted, want 6", n)
	}
}

func TestSubscribeOneCommit(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	r := persistentRaw(t, e.addr(), "one-commit", "admin", 5)
	var filters []string
	for i := range 50 {
		filters = append(filters, "c/"+strconv.Itoa(i))
	}
	// The session record (saved after the CONNACK), then a change of our
	// own, waited for, so that earlier commits are counted.
	waitFor(t, "the session record", 20*time.Second, func() bool { return e.b.store.has(bucketClients, "one-commit") })
	e.b.store.del(bucketRetained, "no/such/topic")
	before := e.b.store.commits.Load()
	codes := subscribeRaw(t, r, 5, 1, filters...)
	if len(codes) != 50 || codes[49] != 1 {
		t.Fatalf("SUBACK % x", codes)
	}
	if n := e.b.store.commits.Load() - before; n != 1 {
		t.Errorf("a SUBSCRIBE of 50 filters took %d commits, want 1", n)
	}
}
