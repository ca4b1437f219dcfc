package main

// Overload and fault tests of issue 8 against the real (race-built) binary:
// a stalled WebSocket subscriber beside live ones, handshake and silent
// connection floods, hostile packets, and kill -9 in the middle of QoS 1
// load to a persistent session. They assert counts, never timings.

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
)

// slowRSSBound is the stated memory bound of the slow-consumer test: the
// race-built gateway's peak RSS while a stalled subscriber sits beside 5
// live ones under fan-out load. Measured with -race on a 2-core amd64:
// 43 MB idle, 60-90 MB peak; 150 MB leaves about 1.7x headroom.
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
	// QoS 0 for the stalled client may be dropped (counted) or its
	// publisher held until the stall ends the client; either way the
	// figure is exported.
	if !strings.Contains(text, "mqttgate_mqtt_messages_dropped_total") {
		t.Error("/metrics has no mqttgate_mqtt_messages_dropped_total")
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
			time.Sleep(20 * time.Millisecond) // paces a client's round trips; waits for nothing
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
			time.Sleep(20 * time.Millisecond) // paces a client's round trips; waits for nothing
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
	// The connection bounds, and the tighter ones for connections that
	// have not logged in yet (the flood's never do).
	var counted float64
	for _, r := range []string{"limit_addr", "limit_total", "limit_prelogin_addr", "limit_prelogin"} {
		m := `mqttgate_ws_refused_total{reason="` + r + `"}`
		counted += metricSum(after, m) - metricSum(before, m)
	}
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
	var w *wsMQTT
	var err error
	if !gatetest.Poll(gatetest.WaitTimeout, func() bool {
		w, err = wsLoginErr(g, "admin", admin, "after-ws", 0)
		return err == nil
	}) {
		t.Fatalf("no new WebSocket client after the flood: %v", err)
	}
	w.subscribe(t, 1, "after/ws", 1)
	if err := w.roundTrip("after/ws", 7, "ok"); err != nil {
		t.Errorf("websocket round trip after the flood: %v", err)
	}
	w.ws.Close()
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
	if !strings.Contains(metrics(t, g), "go_memstats_alloc_bytes_total ") {
		t.Fatal("/metrics has no go_memstats_alloc_bytes_total; the allocation check needs it")
	}
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
	gatetest.Poll(60*time.Second, func() bool { return nAcked.Load() >= killAt }) // checked below
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
	gatetest.Poll(60*time.Second, func() bool {
		if len(lost()) == 0 {
			return true
		}
		if n := got.total(); n != last {
			last, quiet = n, time.Now()
		}
		return time.Since(quiet) > 5*time.Second
	})
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
