package main

// Helpers of the overload tests (e2e_overload_test.go): a payload counter
// for paho clients, a raw MQTT 3.1.1 client over WebSocket with chap1
// login, packet encoders, /metrics and /proc readers.

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
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"mqttgate/gatetest"
	"mqttgate/login"
)

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
	return gatetest.Poll(timeout, func() bool { return c.count(topic) >= n })
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
