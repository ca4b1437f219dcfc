package uplink

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

func outageConfig(url string) Config {
	return Config{
		Name: "cloud", URL: url,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		DrainRate: 5000,
		Topics:    []Topic{{Pattern: "sensors/#", Direction: "out", QoS: 1, LocalPrefix: "gw-1/", RemotePrefix: "site/gw-1/"}},
	}
}

// TestUplinkOutageLosesNothing: 1000 QoS 1 messages are acknowledged
// locally while the upstream is down, the uplink is stopped without any
// drain (as by SIGKILL: what is acknowledged is already fsynced) and a new
// one opens the same data dir, then the upstream starts: all 1000 arrive,
// in order per topic.
func TestUplinkOutageLosesNothing(t *testing.T) {
	up := gatetest.NewMosquitto(t, gatetest.MosquittoOptions{Persist: true})
	// A persistent collector session upstream, so nothing that arrives
	// before the collector reconnects is lost by the test itself.
	up.Start()
	subArgs := []string{"-p", strconv.Itoa(up.Port()), "-h", "127.0.0.1", "-i", "collector", "-c", "-q", "1", "-t", "site/#"}
	if out, err := exec.Command("/usr/bin/mosquitto_sub", append(subArgs, "-E")...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_sub (apt-get install -y mosquitto-clients): %v\n%s", err, out)
	}
	up.Stop()

	local := startLocalBroker(t)
	dir := t.TempDir()
	u1, err := New(outageConfig(up.URL()), testLogger(t), local, "gw-1", dir)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := runUplink(t, u1)
	eventually(t, "queue open", func() bool { return u1.q.Load() != nil })

	const topics, perTopic = 4, 250
	var wg sync.WaitGroup
	for i := range topics {
		pub := connectClient(t, paho.NewClientOptions().AddBroker("tcp://"+local.addr).SetClientID(fmt.Sprintf("pub%d", i)))
		wg.Go(func() {
			for n := range perTopic {
				tok := pub.Publish(fmt.Sprintf("gw-1/sensors/s%d", i), 1, false, strconv.Itoa(n))
				if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
					t.Errorf("local publish %d/%d not acknowledged: %v", i, n, tok.Error())
					return
				}
			}
		})
	}
	wg.Wait()
	if got := u1.State().QueueMessages; got != topics*perTopic {
		t.Fatalf("queue holds %d messages after the outage, want %d", got, topics*perTopic)
	}
	stop1() // no drain: the "killed" gateway

	u2, err := New(outageConfig(up.URL()), testLogger(t), local, "gw-1", dir)
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u2)
	eventually(t, "restarted uplink reopens the queue", func() bool { return u2.State().QueueMessages == topics*perTopic })

	var arrived gatetest.Recorder
	up.Start()
	sub := exec.Command("/usr/bin/mosquitto_sub", append(subArgs, "-v")...)
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	subDone := make(chan struct{})
	t.Cleanup(func() { _ = sub.Process.Kill(); <-subDone })
	go func() {
		defer close(subDone)
		defer sub.Wait()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			topic, payload, _ := strings.Cut(sc.Text(), " ")
			if !strings.HasPrefix(topic, "site/gw-1/sensors/") {
				continue
			}
			if _, err := strconv.Atoi(payload); err != nil {
				t.Errorf("bad payload %q on %s", payload, topic)
				continue
			}
			arrived.Add(gatetest.Message{Topic: topic, Payload: payload})
		}
	}()
	eventually(t, "all messages upstream", func() bool { return arrived.Distinct() == topics*perTopic })
	eventually(t, "queue drained", func() bool { return u2.State().QueueMessages == 0 })

	d, total := arrived.Distinct(), arrived.Len()
	for _, topic := range arrived.Topics() {
		// Order per topic: the first copy of each message arrives in order
		// (a duplicate is a QoS 1 resend of an unacknowledged one).
		arrived.CheckOrder(t, topic)
	}
	t.Logf("outage: sent %d, received %d, distinct %d, duplicates %d, lost %d",
		topics*perTopic, total, d, total-d, topics*perTopic-d)
}

// TestUplinkInRules: messages from the upstream reach local subscribers
// with the prefixes mapped and are not sent back up by a matching out
// rule; the status topic says online.
func TestUplinkInRules(t *testing.T) {
	up := gatetest.StartMosquitto(t, gatetest.MosquittoOptions{})
	local := startLocalBroker(t)
	cfg := Config{
		Name: "cloud", URL: up.URL(), ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Topics: []Topic{
			{Pattern: "cmd/#", Direction: "in", QoS: 1, LocalPrefix: "gw-1/", RemotePrefix: "site/gw-1/"},
			{Pattern: "#", Direction: "out", QoS: 1, LocalPrefix: "gw-1/", RemotePrefix: "site/gw-1/"},
		},
	}
	u, err := New(cfg, testLogger(t), local, "gw-1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	var upstream gatetest.Recorder
	watch := connectClient(t, paho.NewClientOptions().AddBroker(up.URL()).SetClientID("watcher"))
	wait(t, watch.Subscribe("site/#", 1, upstream.Paho), "watcher subscribe")
	count := func(s string) int { // s is topic=payload
		n := 0
		for _, m := range upstream.All() {
			if m.Topic+"="+m.Payload == s {
				n++
			}
		}
		return n
	}

	var got gatetest.Recorder
	lsub := connectClient(t, paho.NewClientOptions().AddBroker("tcp://"+local.addr).SetClientID("local-sub"))
	wait(t, lsub.Subscribe("gw-1/cmd/#", 1, got.Paho), "local subscribe")
	var stateMu sync.Mutex
	var state State
	unsub, err := local.Subscribe("gw-1/uplink/cloud/state", func(_ string, p []byte, _ bool, _ byte) {
		stateMu.Lock()
		defer stateMu.Unlock()
		_ = json.Unmarshal(p, &state)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()

	stop := runUplink(t, u)
	eventually(t, "uplink connected", func() bool { return u.State().Connected })
	eventually(t, "online status upstream", func() bool { return count("site/gw-1/status=online") == 1 })
	eventually(t, "connected state published locally", func() bool {
		stateMu.Lock()
		defer stateMu.Unlock()
		return state.Connected && state.Name == "cloud"
	})

	pub := connectClient(t, paho.NewClientOptions().AddBroker(up.URL()).SetClientID("cloud-app"))
	wait(t, pub.Publish("site/gw-1/cmd/led", 1, false, "on"), "upstream publish")
	if m := got.Next(t); m.Topic+"="+m.Payload != "gw-1/cmd/led=on" {
		t.Fatalf("local subscriber got %s=%s, want gw-1/cmd/led=on", m.Topic, m.Payload)
	}
	// A later local message goes through the same FIFO; once it is
	// upstream, an echo of the in message would be too.
	if err := local.Publish("test", "gw-1/sensors/marker", []byte("m"), false, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "marker upstream", func() bool { return count("site/gw-1/sensors/marker=m") == 1 })
	if n := count("site/gw-1/cmd/led=on"); n != 1 {
		t.Fatalf("upstream saw site/gw-1/cmd/led %d times, want 1 (the original, no echo)", n)
	}
	if r := u.State().Received; r != 1 {
		t.Errorf("state received = %d, want 1", r)
	}
	stop()
	eventually(t, "offline status upstream after stop", func() bool { return count("site/gw-1/status=offline") == 1 })
}

// TestUplinkQueueFullDropsOldest: with the upstream unreachable, a small
// queue keeps the newest messages and counts every drop.
func TestUplinkQueueFullDropsOldest(t *testing.T) {
	local := startLocalBroker(t)
	cfg := outageConfig("tcp://" + gatetest.RefusingAddr(t)) // the upstream is down
	cfg.Queue.MaxBytes = 64 << 10
	u, err := New(cfg, testLogger(t), local, "gw-1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	eventually(t, "queue open", func() bool { return u.q.Load() != nil })
	const n = 200
	payload := strings.Repeat("x", 1000)
	for i := range n {
		if err := local.Publish("test", "gw-1/sensors/big", []byte(fmt.Sprintf("%04d%s", i, payload)), false, 1); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	s := u.State()
	if s.QueueBytes > cfg.Queue.MaxBytes {
		t.Errorf("queue holds %d bytes, above max_bytes %d", s.QueueBytes, cfg.Queue.MaxBytes)
	}
	if s.Dropped == 0 || s.Dropped+s.QueueMessages != n {
		t.Fatalf("dropped %d + queued %d, want %d with some dropped", s.Dropped, s.QueueMessages, n)
	}
	recs, err := u.q.Load().read(0, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		want := fmt.Sprintf("%04d", int(s.Dropped)+i) // the oldest went first
		if got := string(r.Payload[:4]); got != want {
			t.Fatalf("queue[%d] = message %s, want %s", i, got, want)
		}
	}
	if v := metricValue(t, u, "mqttgate_uplink_dropped_total", "queue_limit"); v != float64(s.Dropped) {
		t.Errorf("mqttgate_uplink_dropped_total{reason=queue_limit} = %v, want %d", v, s.Dropped)
	}
	t.Logf("queue of %d bytes: kept %d, dropped %d", cfg.Queue.MaxBytes, s.QueueMessages, s.Dropped)
}

// TestUplinkOpenBeforeRun: an opened uplink queues what the broker
// accepts before Run starts (the gateway opens uplinks before the broker
// listens, so nothing acknowledged at startup misses them); Run then
// takes over the open uplink, and Close leaves the queue on disk.
func TestUplinkOpenBeforeRun(t *testing.T) {
	local := startLocalBroker(t)
	dir := t.TempDir()
	cfg := outageConfig("tcp://127.0.0.1:1") // no upstream
	u, err := New(cfg, testLogger(t), local, "gw-1", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Open(); err != nil {
		t.Fatal(err)
	}
	if err := u.Open(); err != nil { // a second Open does nothing
		t.Fatal(err)
	}
	pub := connectClient(t, paho.NewClientOptions().AddBroker("tcp://"+local.addr).SetClientID("early"))
	for n := range 10 {
		tok := pub.Publish("gw-1/sensors/early", 1, false, strconv.Itoa(n))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", n, tok.Error())
		}
	}
	if got := u.State().QueueMessages; got != 10 {
		t.Fatalf("queue holds %d messages published before Run, want 10", got)
	}
	stop := runUplink(t, u)
	eventually(t, "Run keeps the open queue", func() bool { return u.State().QueueMessages == 10 })
	stop()
	u.Close() // after Run: a no-op

	u2, err := New(cfg, testLogger(t), local, "gw-1", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := u2.Open(); err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	if got := u2.State().QueueMessages; got != 10 {
		t.Fatalf("reopened queue holds %d messages, want 10", got)
	}
}
