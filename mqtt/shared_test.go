package mqtt

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"mqttgate/gatetest"
)

// under counts the messages of r on topics under prefix, and whether one
// topic came twice.
func under(r *gatetest.Recorder, prefix string, seen map[string]int) int {
	n := 0
	for _, m := range r.All() {
		if strings.HasPrefix(m.Topic, prefix) {
			n++
			if seen != nil {
				seen[m.Topic]++
			}
		}
	}
	return n
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
	waitFor(t, "the admin to get every message to test2/*", 20*time.Second, func() bool { return under(am, "test2/", nil) >= n })
	// Both members may read the device's topics: each message goes to one
	// of them, once.
	for i := range 20 {
		wait(t, pub.Publish("devices/dev1/"+strconv.Itoa(i), 1, false, "d"))
	}
	waitFor(t, "the group to get every message to devices/dev1/*", 20*time.Second, func() bool {
		return under(am, "devices/", nil)+under(dm, "devices/", nil) >= 20
	})
	seen := map[string]int{}
	under(am, "devices/", seen)
	under(dm, "devices/", seen)
	for topic, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times", topic, k)
		}
	}
	if k := under(dm, "test2/", nil); k != 0 {
		t.Errorf("the device got %d messages to test2/*", k)
	}
	if k := under(am, "test2/", nil); k != n {
		t.Errorf("the admin got %d messages to test2/*, want %d", k, n)
	}
}
