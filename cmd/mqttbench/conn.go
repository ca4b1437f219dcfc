package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// client is one MQTT connection: a buffered writer the owner flushes per
// batch and a packet reader. Writes and reads may run in two goroutines.
type client struct {
	conn    io.ReadWriteCloser
	w       *bufio.Writer
	r       *packetReader
	version byte
	id      string
}

func (c *client) Close() error { return c.conn.Close() }

// wsConn adapts a gorilla connection to a byte stream: each Write is one
// binary frame (the bufio.Writer above it makes that one frame per batch),
// and Read walks the incoming frames.
type wsConn struct {
	ws  *websocket.Conn
	cur io.Reader
	// perPacket: frame each MQTT packet on its own, as MQTT.js and paho do,
	// encoding the frames into one buffer written with one syscall.
	perPacket bool
	raw       net.Conn
	mask      [4]byte
	carry     []byte // an incomplete packet left from the previous Write
	out       []byte
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				return 0, fmt.Errorf("mqttbench: websocket: unexpected message type %d", mt)
			}
			c.cur = r
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if c.perPacket {
		return c.writeFrames(p)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }

// writeFrames writes one masked binary frame per complete MQTT packet in
// carry+p and keeps an incomplete tail for the next call.
func (c *wsConn) writeFrames(p []byte) (int, error) {
	data := p
	if len(c.carry) > 0 {
		c.carry = append(c.carry, p...)
		data = c.carry
	}
	out := c.out[:0]
	for len(data) > 1 {
		n, used, err := readVarint(data[1:])
		if err != nil {
			if len(data) < 5 {
				break // length not complete yet
			}
			return 0, err
		}
		size := 1 + used + n
		if size > len(data) {
			break
		}
		out = appendWSFrame(out, c.mask, data[:size])
		data = data[size:]
	}
	c.carry = append(c.carry[:0], data...)
	c.out = out
	if len(out) > 0 {
		if _, err := c.raw.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// appendWSFrame appends a final, masked binary frame (RFC 6455 §5.2).
func appendWSFrame(b []byte, mask [4]byte, payload []byte) []byte {
	b = append(b, 0x82)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 65536:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= mask[i&3]
	}
	return b
}

// dialer opens MQTT connections over TCP or WebSocket, logging in with chap1
// when a username is configured for WebSocket. Safe for concurrent use.
type dialer struct {
	cfg  Config
	tls  *tls.Config
	http *http.Client
	ws   *websocket.Dialer

	mu        sync.Mutex
	keySalt   string
	keyIter   int
	clientKey []byte
	password  string
}

func newDialer(cfg Config) (*dialer, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.CACert == ""} //nolint:gosec // loopback benchmark; -cacert pins
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("mqttbench: read -cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqttbench: -cacert %s: no PEM certificate found", cfg.CACert)
		}
		tc.RootCAs = pool
		tc.ServerName = "localhost"
	}
	d := &dialer{cfg: cfg, tls: tc, password: cfg.Password}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mqttbench: read -password-file: %w", err)
		}
		d.password = strings.TrimSpace(string(b))
	}
	d.http = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64},
	}
	d.ws = &websocket.Dialer{
		Subprotocols:     []string{"mqtt"},
		TLSClientConfig:  tc,
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   cfg.BufSize,
		WriteBufferSize:  cfg.BufSize,
	}
	return d, nil
}

// challenge is the answer of POST /api/auth/challenge (docs/chap1.md, "the challenge").
type challenge struct {
	Method     string `json:"method"`
	Nonce      string `json:"nonce"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations"`
}

// chap1Password fetches a fresh nonce and returns the CONNECT password field.
// ClientKey is derived once and reused while salt and iterations stay the same.
func (d *dialer) chap1Password(ctx context.Context, clientID string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": d.cfg.Username})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.AuthURL+"/api/auth/challenge", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("mqttbench: challenge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("mqttbench: challenge: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("mqttbench: challenge: %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var ch challenge
	if err := json.Unmarshal(raw, &ch); err != nil {
		return "", fmt.Errorf("mqttbench: challenge: decode: %w", err)
	}
	if ch.Method != "chap1" {
		return "", fmt.Errorf("mqttbench: challenge: unknown method %q", ch.Method)
	}
	d.mu.Lock()
	if d.clientKey == nil || d.keySalt != ch.Salt || d.keyIter != ch.Iterations {
		salt, err := base64.RawURLEncoding.DecodeString(ch.Salt)
		if err != nil {
			d.mu.Unlock()
			return "", fmt.Errorf("mqttbench: challenge: salt: %w", err)
		}
		d.clientKey, err = chap1ClientKey(d.password, salt, ch.Iterations)
		if err != nil {
			d.mu.Unlock()
			return "", err
		}
		d.keySalt, d.keyIter = ch.Salt, ch.Iterations
	}
	key := d.clientKey
	d.mu.Unlock()
	return chap1PasswordField(ch.Nonce, chap1Proof(key, ch.Nonce, d.cfg.Username, clientID)), nil
}

// chap1ClientKey derives ClientKey = HMAC(PBKDF2(password, salt, iter), "Client Key").
func chap1ClientKey(password string, salt []byte, iterations int) ([]byte, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return nil, fmt.Errorf("mqttbench: pbkdf2: %w", err)
	}
	m := hmac.New(sha256.New, salted)
	m.Write([]byte("Client Key"))
	return m.Sum(nil), nil
}

// chap1Proof computes ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage).
func chap1Proof(clientKey []byte, nonce, username, clientID string) []byte {
	stored := sha256.Sum256(clientKey)
	m := hmac.New(sha256.New, stored[:])
	m.Write([]byte("chap1," + nonce + "," + username + "," + clientID))
	sig := m.Sum(nil)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	return sig
}

func chap1PasswordField(nonce string, proof []byte) string {
	return "chap1:" + nonce + ":" + base64.RawURLEncoding.EncodeToString(proof)
}

// dial opens one connection, sends CONNECT and waits for a successful CONNACK.
func (d *dialer) dial(ctx context.Context, clientID string) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	opts := connectOpts{
		Version:      d.cfg.Version,
		ClientID:     clientID,
		KeepAlive:    uint16(d.cfg.KeepAlive / time.Second),
		CleanSession: true,
	}
	var conn io.ReadWriteCloser
	var deadline func(time.Time) error
	if d.cfg.Transport == "ws" {
		if d.cfg.Username != "" {
			if d.cfg.AuthURL != "" {
				pw, err := d.chap1Password(ctx, clientID)
				if err != nil {
					return nil, err
				}
				opts.Username, opts.Password = d.cfg.Username, pw
			} else {
				opts.Username, opts.Password = d.cfg.Username, d.password
			}
		}
		ws, resp, err := d.ws.DialContext(ctx, d.cfg.URL, nil)
		if err != nil {
			if resp != nil {
				return nil, fmt.Errorf("mqttbench: websocket %s: %w (%s)", d.cfg.URL, err, resp.Status)
			}
			return nil, fmt.Errorf("mqttbench: websocket %s: %w", d.cfg.URL, err)
		}
		if ws.Subprotocol() != "mqtt" {
			ws.Close()
			return nil, fmt.Errorf("mqttbench: websocket %s: server chose subprotocol %q, want mqtt", d.cfg.URL, ws.Subprotocol())
		}
		wc := &wsConn{ws: ws, raw: ws.UnderlyingConn(), perPacket: d.cfg.WSFrames == "packet"}
		if wc.perPacket {
			_, _ = rand.Read(wc.mask[:])
			// Our frames bypass gorilla's writer, so it must not write a
			// pong concurrently; a run is far shorter than a server's
			// ping interval plus pong timeout.
			ws.SetPingHandler(func(string) error { return nil })
		}
		conn, deadline = wc, ws.UnderlyingConn().SetDeadline
	} else {
		if d.cfg.Username != "" {
			opts.Username, opts.Password = d.cfg.Username, d.password
		}
		var nd net.Dialer
		nc, err := nd.DialContext(ctx, "tcp", d.cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("mqttbench: dial %s: %w", d.cfg.Addr, err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		conn, deadline = nc, nc.SetDeadline
	}
	c := &client{
		conn:    conn,
		w:       bufio.NewWriterSize(conn, d.cfg.BufSize),
		r:       newPacketReader(conn, d.cfg.BufSize),
		version: d.cfg.Version,
		id:      clientID,
	}
	dl, _ := ctx.Deadline()
	_ = deadline(dl)
	if _, err := c.w.Write(appendConnect(nil, opts)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqttbench: %s: send connect: %w", clientID, err)
	}
	if err := c.w.Flush(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqttbench: %s: send connect: %w", clientID, err)
	}
	h, body, err := c.r.Next()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("mqttbench: %s: read connack: %w", clientID, err)
	}
	if h>>4 != typeConnack {
		conn.Close()
		return nil, fmt.Errorf("mqttbench: %s: got packet type %d, want CONNACK", clientID, h>>4)
	}
	code, err := parseConnack(body)
	if err != nil || code != 0 {
		conn.Close()
		return nil, fmt.Errorf("mqttbench: %s: connection refused, code %#x", clientID, code)
	}
	_ = deadline(time.Time{})
	return c, nil
}

// subscribe sends SUBSCRIBE and waits for its SUBACK.
func (c *client) subscribe(filter string, qos byte) error {
	if _, err := c.w.Write(appendSubscribe(nil, c.version, 1, filter, qos)); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	for {
		h, body, err := c.r.Next()
		if err != nil {
			return fmt.Errorf("mqttbench: %s: read suback: %w", c.id, err)
		}
		if h>>4 != typeSuback {
			continue
		}
		_, code, err := parseSuback(body, c.version)
		if err != nil {
			return err
		}
		if code >= 0x80 {
			return fmt.Errorf("mqttbench: %s: subscribe %q refused, code %#x", c.id, filter, code)
		}
		return nil
	}
}

// authURLFromWS derives https://host:port (or http) from a ws(s):// URL.
func authURLFromWS(wsURL string) string {
	u, err := url.Parse(wsURL)
	if err != nil {
		return ""
	}
	scheme := "https"
	if u.Scheme == "ws" {
		scheme = "http"
	}
	return scheme + "://" + u.Host
}
