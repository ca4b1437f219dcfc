package mqtt

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// nextUnder returns the next message of m on a topic under prefix,
// skipping others ($SYS), or false after timeout.
func (m *msgs) nextUnder(prefix string, timeout time.Duration) (string, bool) {
	end := time.After(timeout)
	for {
		select {
		case msg := <-m.ch:
			if strings.HasPrefix(msg.Topic(), prefix) {
				return msg.Topic(), true
			}
		case <-end:
			return "", false
		}
	}
}

// Of a shared group, a message goes to a member that may read its topic.
func TestSharedSubscriptionPicksReader(t *testing.T) {
	e := startBroker(t, testConfig(t.TempDir()), nil)
	admin := mustConnect(t, e.addr(), "share-admin", "admin")
	dev := mustConnect(t, e.addr(), "share-dev", "dev1")
	am, _ := subscribe(t, admin, "$share/h/#", 1)
	dm, _ := subscribe(t, dev, "$share/h/#", 1)
	pub := mustConnect(t, e.addr(), "share-pub", "admin")
	const n = 40
	for i := range n {
		wait(t, pub.Publish("test2/"+strconv.Itoa(i), 1, false, "m"))
	}
	for got := 0; got < n; got++ {
		if _, ok := am.nextUnder("test2/", 10*time.Second); !ok {
			t.Fatalf("admin got %d of %d acknowledged messages to test2/*", got, n)
		}
	}
	// Both members may read the device's topics: each message goes to one
	// of them, once.
	seen := map[string]bool{}
	for i := range 20 {
		wait(t, pub.Publish("devices/dev1/"+strconv.Itoa(i), 1, false, "d"))
	}
	for len(seen) < 20 {
		var topic string
		var ok bool
		select {
		case m := <-am.ch:
			topic, ok = m.Topic(), true
		case m := <-dm.ch:
			topic, ok = m.Topic(), true
		case <-time.After(10 * time.Second):
		}
		if !ok {
			t.Fatalf("group got %d of 20 messages to devices/dev1/*", len(seen))
		}
		if !strings.HasPrefix(topic, "devices/") {
			continue
		}
		if seen[topic] {
			t.Fatalf("%s delivered twice", topic)
		}
		seen[topic] = true
	}
	if topic, ok := dm.nextUnder("test2/", 0); ok {
		t.Fatalf("device got %s", topic)
	}
}
