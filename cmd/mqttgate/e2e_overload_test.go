package main

// Overload and fault tests of issue 8 against the real (race-built) binary:
// a stalled WebSocket subscriber beside live ones, handshake and silent
// connection floods, hostile packets, and kill -9 in the middle of QoS 1
// load to a persistent session. They assert counts, never timings.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
	"mqttgate/login"
)

// slowRSSBound is the stated memory bound of the slow-consumer test: the
// race-built gateway's peak RSS while a stalled subscriber sits beside 5
// live ones under fan-out load. Measured peak: see TestOverloadSlowConsumer.
const slowRSSBound = 150 << 20

// TestOverloadSlowConsumer: a WebSocket subscriber that stops reading
// beside 5 live TCP subscribers under fan-out load from one publisher. The
// live ones get every message, the publisher is held at most until the
// stalled one is disconnected (stall_timeout), the stalled one's QoS 0
// overflow is dropped and counted, its disconnect is logged, no
// acknowledged message is lost, and RSS stays under slowRSSBound.
func TestOverloadSlowConsumer(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{HTTPTLS: "off", YAML: gatetest.BaseYAML + `
mqtt:
  max_inflight: 256
  max_queued: 512
  publish_wait: 20s
  stall_timeout: 3s
http:
  write_timeout: 60s
`})
	admin := g.AdminPassword()
	// n messages at QoS 1, each followed by 8 at QoS 0, of 8 KB: the
	// socket buffers of the stalled client take about 4 MB (the gateway's
	// send buffer grows to net.ipv4.tcp_wmem), then its write queue (512)
	// overflows before its QoS 1 backlog reaches max_inflight (256), so
	// both limits are exercised.
	const n, per = 500, 8
	payload := func(i int) []byte {
		p := make([]byte, 8<<10)
		copy(p, fmt.Sprintf("%06d", i))
		return p
	}

	// The stalled subscriber: a small receive buffer so that the gateway's
	// writes to it block soon; it reads the SUBACK and nothing more.
	stalled := wsLogin(t, g, "admin", admin, "stalled-ws", 4096)
	stalled.subscribe(t, 1, "load/q0", 0, "load/q1", 1)

	lives := make([]*counter, 5)
	for i := range lives {
		lives[i] = newCounter()
		c := connectV3(t, g, "admin", admin, fmt.Sprintf("live-%d", i), true)
		for topic, qos := range map[string]byte{"load/q0": 0, "load/q1": 1} {
			if tok := c.Subscribe(topic, qos, lives[i].handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("live-%d subscribe %s: %v", i, topic, tok.Error())
			}
		}
	}
	pub := connectV3(t, g, "admin", admin, "load-pub", true)
	idle := mustRSS(t, g)
	peak := sampleRSS(g)

	// Publish with a window of 64 outstanding messages; a QoS 1 publish is
	// held while the stalled session is at a limit, until it is
	// disconnected after stall_timeout (3s; http.write_timeout is 60s so
	// that it is the gateway's flow control that ends the stall, not a
	// write timeout). No publish may be refused.
	var window []paho.Token
	var longest time.Duration
	wait := func(tok paho.Token) {
		start := time.Now()
		if !tok.WaitTimeout(30 * time.Second) {
			t.Fatalf("publisher stuck: a publish not acknowledged within 30 s (stall_timeout is 3 s)")
		}
		if err := tok.Error(); err != nil {
			t.Fatalf("publish refused: %v", err)
		}
		longest = max(longest, time.Since(start))
	}
	for i := range n {
		window = append(window, pub.Publish("load/q1", 1, false, payload(i)))
		for j := range per {
			window = append(window, pub.Publish("load/q0", 0, false, payload(i*per+j)))
		}
		for len(window) > 64 {
			wait(window[0])
			window = window[1:]
		}
	}
	for _, tok := range window {
		wait(tok)
	}
	t.Logf("%d QoS 1 + %d QoS 0 messages published; longest wait for one acknowledgement %v", n, n*per, longest.Round(time.Millisecond))

	for i, c := range lives {
		if !c.waitAll(30*time.Second, "load/q1", n) || !c.waitAll(5*time.Second, "load/q0", n*per) {
			t.Errorf("live-%d received %d of %d QoS 1 and %d of %d QoS 0 messages", i, c.count("load/q1"), n, c.count("load/q0"), n*per)
		}
	}
	if !g.WaitLog(`msg="slow client disconnected`, 20*time.Second) {
		t.Error(`no "slow client disconnected" in the log`)
	} else if line := grepLines(g.Log(), "slow client disconnected"); !strings.Contains(line, "client=stalled-ws") {
		t.Errorf("the slow client disconnected is not the stalled one: %s", line)
	}
	// The stalled client's connection is closed: after what the kernel
	// buffered, it reads the end.
	if err := stalled.drain(20 * time.Second); err != nil {
		t.Errorf("stalled subscriber: %v", err)
	}
	t.Logf("the stalled subscriber had %d KB in its socket buffers when it was disconnected", stalled.drained>>10)
	text := metrics(t, g)
	if v := metricSum(text, "mqttgate_mqtt_slow_clients_disconnected_total"); v < 1 {
		t.Errorf("slow_clients_disconnected_total %v, want >= 1", v)
	}
	if v := metricSum(text, "mqttgate_mqtt_messages_dropped_total"); v < 1 {
		t.Errorf("messages_dropped_total %v: the stalled client's QoS 0 overflow was not counted", v)
	}
	if v := metricSum(text, "mqttgate_mqtt_messages_lost_total"); v != 0 {
		t.Errorf("messages_lost_total %v, want 0", v)
	}
	top := peak()
	t.Logf("RSS idle %d MB, peak under load %d MB (bound %d MB); dropped %v, requeued %v, throttled %v",
		idle>>20, top>>20, slowRSSBound>>20, metricSum(text, "mqttgate_mqtt_messages_dropped_total"),
		metricSum(text, "mqttgate_mqtt_messages_requeued_total"), metricSum(text, "mqttgate_mqtt_publish_throttled_total"))
	if top > slowRSSBound {
		t.Errorf("gateway RSS peaked at %d MB, bound %d MB", top>>20, slowRSSBound>>20)
	}
}

// TestOverloadFloods: ~2,000 WebSocket handshakes in about a second and
// 500 silent TCP connections, while a TCP and a WebSocket client keep
// their QoS 1 round trips; the gateway refuses and counts what is beyond
// its limits, closes the silent connections after connect_timeout, and
// takes new clients afterwards.
func TestOverloadFloods(t *testing.T) {
	raiseFDLimit(t, 4096)
	g := gatetest.Start(t, gatetest.Options{HTTPTLS: "off", YAML: gatetest.BaseYAML + `
mqtt:
  connect_timeout: 2s
`})
	admin := g.AdminPassword()
	stopRT := make(chan struct{})
	var rtWG sync.WaitGroup
	var tcpRT, wsRT atomic.Int64
	rtErr := make(chan error, 2)
	tcpSub := newCounter()
	tc := connectV3(t, g, "admin", admin, "rt-tcp", true)
	if tok := tc.Subscribe("rt/tcp", 1, tcpSub.handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	wc := wsLogin(t, g, "admin", admin, "rt-ws", 0)
	wc.subscribe(t, 1, "rt/ws", 1)
	rtWG.Add(2)
	go func() { // TCP round trips
		defer rtWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopRT:
				return
			default:
			}
			if tok := tc.Publish("rt/tcp", 1, false, strconv.Itoa(i)); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
				rtErr <- fmt.Errorf("tcp round trip %d: publish: %v", i, tok.Error())
				return
			}
			if !tcpSub.waitAll(15*time.Second, "rt/tcp", i+1) {
				rtErr <- fmt.Errorf("tcp round trip %d: message not received in 15 s", i)
				return
			}
			tcpRT.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() { // WebSocket round trips
		defer rtWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stopRT:
				return
			default:
			}
			if err := wc.roundTrip("rt/ws", uint16(i%60000+10), strconv.Itoa(i)); err != nil {
				rtErr <- fmt.Errorf("websocket round trip %d: %v", i, err)
				return
			}
			wsRT.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	before := metrics(t, g)

	// 500 silent TCP connections.
	var silentClosed, silentOpen atomic.Int64
	var silentWG sync.WaitGroup
	for i := 0; i < 500; i++ {
		conn, err := net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		silentOpen.Add(1)
		silentWG.Add(1)
		go func() {
			defer silentWG.Done()
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				silentClosed.Add(1)
			}
		}()
	}

	// 2,000 WebSocket handshakes from 64 workers; an accepted one is closed
	// at once, a refused one answers 429 (per address) or 503 (total).
	const attempts = 2000
	var accepted, refused, failed atomic.Int64
	var firstErr atomic.Value
	jobs := make(chan int, attempts)
	for i := range attempts {
		jobs <- i
	}
	close(jobs)
	start := time.Now()
	var floodWG sync.WaitGroup
	for range 64 {
		floodWG.Add(1)
		go func() {
			defer floodWG.Done()
			d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 15 * time.Second}
			for range jobs {
				ws, resp, err := d.Dial("ws://"+g.HTTPAddr+"/mqtt", nil)
				switch {
				case err == nil:
					accepted.Add(1)
					ws.Close()
				case resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable):
					refused.Add(1)
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	floodWG.Wait()
	t.Logf("websocket flood: %d attempts in %v: %d accepted, %d refused, %d failed (%v)",
		attempts, time.Since(start).Round(time.Millisecond), accepted.Load(), refused.Load(), failed.Load(), firstErr.Load())
	silentWG.Wait()
	close(stopRT)
	rtWG.Wait()
	close(rtErr)
	for err := range rtErr {
		t.Error(err)
	}
	t.Logf("round trips during the floods: %d over TCP, %d over WebSocket", tcpRT.Load(), wsRT.Load())

	if failed.Load() != 0 {
		t.Errorf("%d handshakes neither accepted nor refused with 429/503; first: %v", failed.Load(), firstErr.Load())
	}
	if refused.Load() == 0 {
		t.Error("no handshake refused: the per-address limit was never reached")
	}
	after := metrics(t, g)
	counted := metricSum(after, `mqttgate_ws_refused_total{reason="limit_addr"}`) + metricSum(after, `mqttgate_ws_refused_total{reason="limit_total"}`) -
		metricSum(before, `mqttgate_ws_refused_total{reason="limit_addr"}`) - metricSum(before, `mqttgate_ws_refused_total{reason="limit_total"}`)
	if counted != float64(refused.Load()) {
		t.Errorf("mqttgate_ws_refused_total counts %v limit refusals, the clients saw %d", counted, refused.Load())
	}
	if silentClosed.Load() != silentOpen.Load() {
		t.Errorf("%d of %d silent connections closed by the gateway within 30 s (connect_timeout 2s)", silentClosed.Load(), silentOpen.Load())
	}
	if tcpRT.Load() == 0 || wsRT.Load() == 0 {
		t.Errorf("round trips during the floods: %d TCP, %d WebSocket; want both > 0", tcpRT.Load(), wsRT.Load())
	}

	// After the floods, new clients get in (the per-address slots of the
	// closed flood connections are released as the gateway notices).
	c := connectV3(t, g, "admin", admin, "after-tcp", true)
	publish(t, c, "after/x", 1, false, "ok")
	deadline := time.Now().Add(20 * time.Second)
	for {
		w, err := wsLoginErr(g, "admin", admin, "after-ws", 0)
		if err == nil {
			w.subscribe(t, 1, "after/ws", 1)
			if err := w.roundTrip("after/ws", 7, "ok"); err != nil {
				t.Errorf("websocket round trip after the flood: %v", err)
			}
			w.ws.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new WebSocket client after the flood: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkAlive(t, g)
}

// TestOverloadHostileInput: packets declaring ~256 MB before and after
// CONNECT, and garbage after a valid CONNECT, over TCP and WebSocket, close
// the connection without the gateway taking that memory; another client
// keeps its round trips. connect_timeout is longer than the wait for the
// close, so the close is the size check, not the timeout.
func TestOverloadHostileInput(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{HTTPTLS: "off", YAML: gatetest.BaseYAML + `
mqtt:
  connect_timeout: 60s
`})
	admin := g.AdminPassword()
	rtSub := newCounter()
	rc := connectV3(t, g, "admin", admin, "hostile-rt", true)
	if tok := rc.Subscribe("rt/h", 1, rtSub.handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	rounds := 0
	roundTrip := func(after string) {
		t.Helper()
		rounds++
		publish(t, rc, "rt/h", 1, false, strconv.Itoa(rounds))
		if !rtSub.waitAll(15*time.Second, "rt/h", rounds) {
			t.Fatalf("after %s: the other client's round trip failed", after)
		}
	}
	roundTrip("start")
	huge := []byte{0xFF, 0xFF, 0xFF, 0x7F} // remaining length 268,435,455
	garbage := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe")
	// A WebSocket frame header declaring a 256 MB binary message (masked).
	hugeFrame := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0}
	cases := []struct {
		name    string
		ws      bool
		connect bool
		send    []byte
		raw     bool // written under the WebSocket framing
	}{
		{"TCP huge CONNECT", false, false, append([]byte{0x10}, huge...), false},
		{"TCP huge PUBLISH after CONNECT", false, true, append([]byte{0x30}, huge...), false},
		{"TCP garbage after CONNECT", false, true, garbage, false},
		{"WebSocket huge CONNECT", true, false, append([]byte{0x10}, huge...), false},
		{"WebSocket huge PUBLISH after CONNECT", true, true, append([]byte{0x30}, huge...), false},
		{"WebSocket garbage after CONNECT", true, true, garbage, false},
		{"WebSocket frame of 256 MB after CONNECT", true, true, hugeFrame, true},
	}
	rss0 := mustRSS(t, g)
	for i, c := range cases {
		alloc0 := metricSum(metrics(t, g), "go_memstats_alloc_bytes_total")
		id := fmt.Sprintf("hostile-%d", i)
		var err error
		if c.ws {
			var w *wsMQTT
			if c.connect {
				w = wsLogin(t, g, "admin", admin, id, 0)
			} else {
				w = wsDialOnly(t, g)
			}
			if c.raw {
				_, err = w.ws.NetConn().Write(c.send)
			} else {
				err = w.ws.WriteMessage(websocket.BinaryMessage, c.send)
			}
			if err == nil {
				err = w.drain(20 * time.Second)
			}
		} else {
			var conn net.Conn
			if c.connect {
				conn = rawConnectPlain(t, g, "admin", admin, id)
			} else if conn, err = net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err = conn.Write(c.send); err == nil {
				err = drainConn(conn, 20*time.Second)
			}
			conn.Close()
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		alloc := metricSum(metrics(t, g), "go_memstats_alloc_bytes_total") - alloc0
		rss := mustRSS(t, g)
		t.Logf("%s: closed; gateway allocated %.1f MB meanwhile, RSS %d MB", c.name, alloc/(1<<20), rss>>20)
		if alloc > 64<<20 {
			t.Errorf("%s: the gateway allocated %.0f MB for it", c.name, alloc/(1<<20))
		}
		if rss > rss0+64<<20 {
			t.Errorf("%s: RSS grew from %d to %d MB", c.name, rss0>>20, rss>>20)
		}
		roundTrip(c.name)
	}
	checkAlive(t, g)
}

// TestOverloadKill9PersistentSession: a persistent QoS 1 subscriber is
// offline while 4 publishers send QoS 1 messages; the gateway is killed
// with SIGKILL mid-load and started again; every message the gateway
// acknowledged reaches the subscriber when it comes back.
func TestOverloadKill9PersistentSession(t *testing.T) {
	g := gatetest.Start(t, gatetest.Options{HTTPTLS: "off", YAML: gatetest.BaseYAML + `
mqtt:
  max_inflight: 30000
`})
	admin := g.AdminPassword()
	sub := connectV3(t, g, "admin", admin, "keeper", false)
	if tok := sub.Subscribe("persist/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	sub.Disconnect(250)

	const pubs, perPub, killAt = 4, 3000, 600
	var mu sync.Mutex
	acked := map[string]bool{}
	var nAcked atomic.Int64
	var wg sync.WaitGroup
	for p := range pubs {
		c := connectV3(t, g, "admin", admin, fmt.Sprintf("persist-pub-%d", p), true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			type sent struct {
				tok paho.Token
				id  string
			}
			var window []sent
			settle := func(s sent) bool {
				if !s.tok.WaitTimeout(20*time.Second) || s.tok.Error() != nil {
					return false
				}
				mu.Lock()
				acked[s.id] = true
				mu.Unlock()
				nAcked.Add(1)
				return true
			}
			for i := range perPub {
				id := fmt.Sprintf("%d-%d", p, i)
				window = append(window, sent{c.Publish(fmt.Sprintf("persist/%d", p), 1, false, id), id})
				if len(window) > 16 {
					if !settle(window[0]) {
						return
					}
					window = window[1:]
				}
			}
			for _, s := range window {
				if !settle(s) {
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for nAcked.Load() < killAt && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	g.Kill()
	killedAt := nAcked.Load()
	wg.Wait()
	if killedAt < killAt {
		t.Fatalf("only %d messages acknowledged in 60 s before the kill", killedAt)
	}
	if nAcked.Load() >= pubs*perPub {
		t.Fatal("the load ended before the kill; the test proves nothing")
	}

	g.StartAgain()
	got := newCounter()
	back, err := dialV3(g, "admin", admin, "keeper", false, func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(got.handler)
	})
	if err != nil {
		t.Fatalf("persistent subscriber reconnect: %v", err)
	}
	defer back.Disconnect(100)
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	// Wait until every acknowledged message is in, or nothing new comes
	// for 5 s (bounded by 60 s).
	lost := func() []string {
		var out []string
		for id := range acked {
			if !got.has(id) {
				out = append(out, id)
			}
		}
		return out
	}
	last, quiet := -1, time.Now()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if len(lost()) == 0 {
			break
		}
		if n := got.total(); n != last {
			last, quiet = n, time.Now()
		} else if time.Since(quiet) > 5*time.Second {
			break
		}
	}
	l := lost()
	t.Logf("kill -9 after %d acknowledged; acked %d, received %d (%d distinct, %d duplicates), lost %d",
		killedAt, want, got.total(), got.distinct(), got.total()-got.distinct(), len(l))
	if len(l) > 0 {
		if len(l) > 10 {
			l = l[:10]
		}
		t.Errorf("%d acknowledged messages lost after kill -9, e.g. %v", len(lost()), l)
	}
}

// counter records the payloads a paho client receives, by topic.
type counter struct {
	mu   sync.Mutex
	seen map[string]map[string]int // topic -> payload key -> times
	n    int
}

func newCounter() *counter { return &counter{seen: map[string]map[string]int{}} }

func (c *counter) handler(_ paho.Client, m paho.Message) {
	key := string(bytes.TrimRight(m.Payload(), "\x00"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[m.Topic()] == nil {
		c.seen[m.Topic()] = map[string]int{}
	}
	c.seen[m.Topic()][key]++
	c.n++
}

// count is the number of distinct payloads received on topic.
func (c *counter) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen[topic])
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.seen {
		n += len(m)
	}
	return n
}

// has reports whether payload key arrived on any topic.
func (c *counter) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.seen {
		if m[key] > 0 {
			return true
		}
	}
	return false
}

func (c *counter) waitAll(timeout time.Duration, topic string, n int) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if c.count(topic) >= n {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// wsMQTT is a raw MQTT 3.1.1 client over a WebSocket: one packet per
// binary message out, a byte stream of messages in.
type wsMQTT struct {
	ws      *websocket.Conn
	r       *bufio.Reader
	cur     io.Reader
	drained int64 // bytes read by drain
}

func (w *wsMQTT) Read(p []byte) (int, error) {
	for {
		if w.cur == nil {
			_, r, err := w.ws.NextReader()
			if err != nil {
				return 0, err
			}
			w.cur = r
		}
		n, err := w.cur.Read(p)
		if err == io.EOF {
			w.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// read returns the next packet's first byte and body.
func (w *wsMQTT) read(timeout time.Duration) (byte, []byte, error) {
	_ = w.ws.SetReadDeadline(time.Now().Add(timeout))
	return readPacket(w.r)
}

func (w *wsMQTT) send(pkt []byte) error {
	_ = w.ws.SetWriteDeadline(time.Now().Add(15 * time.Second))
	return w.ws.WriteMessage(websocket.BinaryMessage, pkt)
}

// subscribe sends one SUBSCRIBE of filter, qos pairs and waits for a
// SUBACK granting them.
func (w *wsMQTT) subscribe(t *testing.T, id uint16, pairs ...any) {
	t.Helper()
	var body []byte
	body = append(body, byte(id>>8), byte(id))
	for i := 0; i < len(pairs); i += 2 {
		body = append(mqString(body, pairs[i].(string)), byte(pairs[i+1].(int)))
	}
	if err := w.send(append(append([]byte{0x82}, encLen(len(body))...), body...)); err != nil {
		t.Fatalf("websocket subscribe: %v", err)
	}
	h, b, err := w.read(15 * time.Second)
	if err != nil || h != 0x90 || len(b) != 2+len(pairs)/2 || bytes.ContainsRune(b[2:], 0x80) {
		t.Fatalf("websocket SUBACK %x %x, %v", h, b, err)
	}
}

// roundTrip publishes payload at QoS 1 to topic (which the client is
// subscribed to) and waits for its PUBACK and the message.
func (w *wsMQTT) roundTrip(topic string, id uint16, payload string) error {
	if err := w.send(mqPublish(topic, 1, id, []byte(payload))); err != nil {
		return err
	}
	acked, got := false, false
	for !acked || !got {
		h, b, err := w.read(15 * time.Second)
		if err != nil {
			return fmt.Errorf("acked %v, received %v: %w", acked, got, err)
		}
		switch h >> 4 {
		case 4: // PUBACK
			acked = acked || len(b) == 2 && uint16(b[0])<<8|uint16(b[1]) == id
		case 3: // PUBLISH
			tl := int(b[0])<<8 | int(b[1])
			var pid uint16
			rest := b[2+tl:]
			if h&0x06 != 0 {
				pid, rest = uint16(rest[0])<<8|uint16(rest[1]), rest[2:]
				if err := w.send([]byte{0x40, 2, byte(pid >> 8), byte(pid)}); err != nil {
					return err
				}
			}
			got = got || string(b[2:2+tl]) == topic && string(rest) == payload
		}
	}
	return nil
}

// drain reads until the gateway closes the connection.
func (w *wsMQTT) drain(timeout time.Duration) error {
	_ = w.ws.SetReadDeadline(time.Now().Add(timeout))
	n, err := io.Copy(io.Discard, w)
	w.drained = n
	if err == nil || isTimeout(err) {
		return fmt.Errorf("connection still open after %v", timeout)
	}
	return nil
}

// wsDial opens a WebSocket to /mqtt with subprotocol mqtt; rcvBuf > 0
// sets the client socket's receive buffer (a subscriber that stalls soon).
func wsDial(g *gatetest.Gateway, rcvBuf int) (*wsMQTT, error) {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if rcvBuf > 0 {
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 15 * time.Second, NetDialContext: nd.DialContext}
	ws, resp, err := d.Dial("ws://"+g.HTTPAddr+"/mqtt", nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	w := &wsMQTT{ws: ws}
	w.r = bufio.NewReader(w)
	return w, nil
}

func wsDialOnly(t *testing.T, g *gatetest.Gateway) *wsMQTT {
	t.Helper()
	w, err := wsDial(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.ws.Close() })
	return w
}

// wsLogin connects over WebSocket and logs in with chap1.
func wsLogin(t *testing.T, g *gatetest.Gateway, user, password, id string, rcvBuf int) *wsMQTT {
	t.Helper()
	w, err := wsLoginErr(g, user, password, id, rcvBuf)
	if err != nil {
		t.Fatalf("websocket login %s: %v", id, err)
	}
	t.Cleanup(func() { w.ws.Close() })
	return w
}

func wsLoginErr(g *gatetest.Gateway, user, password, id string, rcvBuf int) (*wsMQTT, error) {
	field, err := chap1Field(g, user, password, id)
	if err != nil {
		return nil, err
	}
	w, err := wsDial(g, rcvBuf)
	if err != nil {
		return nil, err
	}
	if err := w.send(mqConnect(id, user, field, true)); err != nil {
		w.ws.Close()
		return nil, err
	}
	h, b, err := w.read(15 * time.Second)
	if err != nil || h != 0x20 || len(b) != 2 || b[1] != 0 {
		w.ws.Close()
		return nil, fmt.Errorf("CONNACK %x %x, %v", h, b, err)
	}
	return w, nil
}

// chap1Field fetches a challenge and computes the CONNECT password field.
func chap1Field(g *gatetest.Gateway, user, password, clientID string) (string, error) {
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Post(g.HTTPURL()+"/api/auth/challenge", "application/json", strings.NewReader(`{"username":"`+user+`"}`))
	if err != nil {
		return "", fmt.Errorf("challenge: %w", err)
	}
	defer resp.Body.Close()
	var ch login.Challenge
	if err := json.NewDecoder(resp.Body).Decode(&ch); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("challenge: %s, %v", resp.Status, err)
	}
	salt, err := base64.RawURLEncoding.DecodeString(ch.Salt)
	if err != nil {
		return "", fmt.Errorf("challenge salt: %w", err)
	}
	key := login.ClientKey(password, salt, ch.Iterations)
	return login.PasswordField(ch.Nonce, login.Proof(key, ch.Nonce, user, clientID)), nil
}

// rawConnectPlain opens a TCP connection with a 3.1.1 CONNECT and CONNACK.
func rawConnectPlain(t *testing.T, g *gatetest.Gateway, user, pass, id string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.MQTTAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(mqConnect(id, user, pass, true)); err != nil {
		t.Fatal(err)
	}
	h, b, err := readPacket(bufio.NewReaderSize(conn, 4))
	if err != nil || h != 0x20 || len(b) != 2 || b[1] != 0 {
		t.Fatalf("CONNACK %x %x, %v", h, b, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}

// drainConn reads until the peer closes the connection.
func drainConn(c net.Conn, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c)
	if err == nil || !isTimeout(err) {
		return nil // EOF (nil from Copy) or reset: closed
	}
	return fmt.Errorf("connection still open after %v", timeout)
}

func mqString(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}

// mqConnect is an MQTT 3.1.1 CONNECT with username and password, keep
// alive 60 s.
func mqConnect(id, user, pass string, clean bool) []byte {
	flags := byte(0xC0)
	if clean {
		flags |= 0x02
	}
	body := mqString(nil, "MQTT")
	body = append(body, 4, flags, 0, 60)
	body = mqString(mqString(mqString(body, id), user), pass)
	return append(append([]byte{0x10}, encLen(len(body))...), body...)
}

func mqPublish(topic string, qos byte, id uint16, payload []byte) []byte {
	body := mqString(nil, topic)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	body = append(body, payload...)
	return append(append([]byte{0x30 | qos<<1}, encLen(len(body))...), body...)
}

// readPacket reads one MQTT packet (at most 1 MiB).
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7F) << shift
		if b&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("packet of %d bytes", n)
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return h, body, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// metricSum sums the samples of a metric in a /metrics text: name alone
// matches every label set; name{...} only that one.
func metricSum(text, name string) float64 {
	sum := 0.0
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name) {
			continue
		}
		rest := l[len(name):]
		if !strings.Contains(name, "{") {
			if strings.HasPrefix(rest, "{") {
				rest = rest[strings.Index(rest, "}")+1:]
			} else if !strings.HasPrefix(rest, " ") {
				continue
			}
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sum += v
		}
	}
	return sum
}

func mustRSS(t *testing.T, g *gatetest.Gateway) int64 {
	t.Helper()
	v, err := g.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sampleRSS reads the gateway's RSS every 50 ms until the returned
// function is called, which returns the peak.
func sampleRSS(g *gatetest.Gateway) func() int64 {
	stop, done := make(chan struct{}), make(chan struct{})
	var peak int64
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := g.RSS(); err == nil {
				peak = max(peak, v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); <-done; return peak }
}

// checkAlive asserts the gateway still runs, answers /healthz and logged
// no panic or race.
func checkAlive(t *testing.T, g *gatetest.Gateway) {
	t.Helper()
	if g.Pid() == 0 || syscall.Kill(g.Pid(), 0) != nil {
		t.Fatal("the gateway is not running")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(g.HTTPURL() + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %s", resp.Status)
	}
	if log := g.Log(); strings.Contains(log, "panic:") || strings.Contains(log, "DATA RACE") {
		t.Errorf("the gateway logged a panic or a data race")
	}
}

// raiseFDLimit raises the soft open-file limit of the test process (and
// so of the gateway it starts) to at least n when the hard limit allows.
func raiseFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("open-file limit %d (hard %d) is below the %d this test needs; raise it (ulimit -n)", lim.Cur, lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
}
