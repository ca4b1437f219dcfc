package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Config selects and shapes one benchmark run. The zero value is not
// usable; parseFlags fills defaults.
type Config struct {
	Broker       string // label in the output, e.g. "mqttgate"
	Scenario     string // fanin | fanout | latency | idle
	Transport    string // tcp | ws
	Addr         string // host:port for tcp
	URL          string // ws:// or wss:// URL for ws
	WSFrames     string // packet (one frame per MQTT packet) | batch (one frame per flush)
	Version      byte   // 4 (MQTT 3.1.1) or 5
	QoS          int
	Publishers   int
	Subscribers  int
	PayloadSize  int
	Duration     time.Duration
	Count        int64 // messages per publisher; 0 = run for Duration
	Window       int   // QoS 1 messages in flight per publisher
	Batch        int   // messages per flush
	Rate         int   // latency: messages per second
	Drain        time.Duration
	Conns        int // idle: connections to hold
	Hold         time.Duration
	PID          int // idle: broker process
	KeepAlive    time.Duration
	DialParallel int
	BufSize      int
	Username     string
	Password     string
	PasswordFile string
	AuthURL      string // https://host:port for chap1; empty with a username = plain password
	CACert       string
}

// Validate reports every problem with the flags at once.
func (c Config) Validate() error {
	var errs []error
	switch c.Scenario {
	case "fanin", "fanout", "latency", "idle":
	default:
		errs = append(errs, fmt.Errorf("scenario: %q is unknown; use fanin, fanout, latency or idle", c.Scenario))
	}
	switch {
	case c.Transport == "tcp" && c.Addr == "":
		errs = append(errs, errors.New("addr: required for -transport tcp"))
	case c.Transport == "ws" && c.URL == "":
		errs = append(errs, errors.New("url: required for -transport ws, e.g. wss://127.0.0.1:8443/mqtt"))
	case c.Transport != "tcp" && c.Transport != "ws":
		errs = append(errs, fmt.Errorf("transport: %q is unknown; use tcp or ws", c.Transport))
	}
	if c.WSFrames != "packet" && c.WSFrames != "batch" {
		errs = append(errs, fmt.Errorf("ws-frames: %q is unknown; use packet or batch", c.WSFrames))
	}
	if c.Version != 4 && c.Version != 5 {
		errs = append(errs, fmt.Errorf("mqtt: %d is not supported; use 4 (3.1.1) or 5", c.Version))
	}
	if c.QoS != 0 && c.QoS != 1 {
		errs = append(errs, fmt.Errorf("qos: %d is not supported; use 0 or 1", c.QoS))
	}
	if c.PayloadSize < payloadHeader {
		errs = append(errs, fmt.Errorf("size: %d is too small; the payload carries %d bytes of sequence and time", c.PayloadSize, payloadHeader))
	}
	if c.Window < 1 || c.Window > 65000 {
		errs = append(errs, fmt.Errorf("window: %d is out of range; use 1-65000", c.Window))
	}
	if c.Duration <= 0 && c.Count <= 0 {
		errs = append(errs, errors.New("duration: must be positive (or give -count)"))
	}
	if c.Scenario == "latency" && c.Rate <= 0 {
		errs = append(errs, errors.New("rate: must be positive for the latency scenario"))
	}
	if c.Scenario == "idle" && c.PID == 0 {
		errs = append(errs, errors.New("pid: the broker's process id is required for the idle scenario"))
	}
	return errors.Join(errs...)
}

// Result is one run, printed as one JSON line.
type Result struct {
	Broker      string  `json:"broker"`
	Scenario    string  `json:"scenario"`
	Transport   string  `json:"transport"`
	QoS         int     `json:"qos"`
	Version     byte    `json:"mqtt"`
	Pubs        int     `json:"pubs,omitempty"`
	Subs        int     `json:"subs,omitempty"`
	Sent        int64   `json:"sent,omitempty"`
	Acked       int64   `json:"acked,omitempty"`
	Expected    int64   `json:"expected,omitempty"`
	Received    int64   `json:"received,omitempty"` // unique deliveries
	Lost        int64   `json:"lost"`
	LostPct     float64 `json:"lost_pct"`
	Dup         int64   `json:"dup"`
	OutOfOrder  int64   `json:"ooo"`
	Foreign     int64   `json:"foreign,omitempty"`
	ElapsedS    float64 `json:"elapsed_s,omitempty"`
	SendRate    float64 `json:"send_rate,omitempty"`
	Rate        float64 `json:"rate,omitempty"` // msg/s received (fan-out: deliveries/s)
	P50ms       float64 `json:"p50_ms,omitempty"`
	P99ms       float64 `json:"p99_ms,omitempty"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	Conns       int     `json:"conns,omitempty"`
	Failed      int64   `json:"failed"`
	RSSBeforeKB int64   `json:"rss_before_kb,omitempty"`
	RSSAfterKB  int64   `json:"rss_after_kb,omitempty"`
	KBPerConn   float64 `json:"kb_per_conn,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// human is the one-line summary for people.
func (r Result) human() string {
	head := fmt.Sprintf("%s %s/%s qos%d", r.Broker, r.Scenario, r.Transport, r.QoS)
	var s string
	switch r.Scenario {
	case "idle":
		s = fmt.Sprintf("%s: %d conns (%d failed), rss %d -> %d KB, %.2f KB/conn",
			head, r.Conns, r.Failed, r.RSSBeforeKB, r.RSSAfterKB, r.KBPerConn)
	case "latency":
		s = fmt.Sprintf("%s: p50 %.3f ms, p99 %.3f ms, max %.3f ms; lost %d, dup %d, ooo %d",
			head, r.P50ms, r.P99ms, r.MaxMs, r.Lost, r.Dup, r.OutOfOrder)
	default:
		s = fmt.Sprintf("%s: %.0f msg/s received (sent %.0f msg/s, %d/%d delivered in %.2fs); lost %d (%.2f%%), dup %d, ooo %d",
			head, r.Rate, r.SendRate, r.Received, r.Expected, r.ElapsedS, r.Lost, r.LostPct, r.Dup, r.OutOfOrder)
	}
	if r.Error != "" {
		s += "; error: " + r.Error
	}
	return s
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("mqttbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var version int
	fs.StringVar(&c.Broker, "broker", "broker", "label for the broker in the output")
	fs.StringVar(&c.Scenario, "scenario", "fanin", "fanin | fanout | latency | idle")
	fs.StringVar(&c.Transport, "transport", "tcp", "tcp | ws")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:1883", "broker TCP address")
	fs.StringVar(&c.URL, "url", "", "WebSocket URL, e.g. wss://127.0.0.1:8443/mqtt")
	fs.StringVar(&c.WSFrames, "ws-frames", "packet", "packet: one WebSocket frame per MQTT packet (like MQTT.js); batch: one frame per flush")
	fs.IntVar(&version, "mqtt", 4, "protocol version: 4 (3.1.1) or 5")
	fs.IntVar(&c.QoS, "qos", 0, "QoS of publications and subscriptions (0 or 1)")
	fs.IntVar(&c.Publishers, "pubs", 0, "publishers (default: fanin 8, fanout 1, latency 1)")
	fs.IntVar(&c.Subscribers, "subs", 0, "subscribers (default: fanin 1, fanout 50, latency 1)")
	fs.IntVar(&c.PayloadSize, "size", 64, "payload bytes")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "how long publishers send")
	fs.Int64Var(&c.Count, "count", 0, "messages per publisher instead of -duration")
	fs.IntVar(&c.Window, "window", 128, "QoS 1 messages in flight per publisher")
	fs.IntVar(&c.Batch, "batch", 64, "messages written per flush")
	fs.IntVar(&c.Rate, "rate", 1000, "latency scenario: messages per second")
	fs.DurationVar(&c.Drain, "drain", 3*time.Second, "give up waiting for deliveries after this long without one")
	fs.IntVar(&c.Conns, "conns", 1000, "idle scenario: connections to hold")
	fs.DurationVar(&c.Hold, "hold", 2*time.Second, "idle scenario: hold connections this long before reading RSS")
	fs.IntVar(&c.PID, "pid", 0, "idle scenario: broker process id (RSS from /proc/PID/status)")
	fs.DurationVar(&c.KeepAlive, "keepalive", 60*time.Second, "MQTT keepalive")
	fs.IntVar(&c.DialParallel, "dial-parallel", 32, "connections opened at once")
	fs.IntVar(&c.BufSize, "buf", 64<<10, "read and write buffer bytes per connection")
	fs.StringVar(&c.Username, "user", "", "username (WebSocket with -auth-url: chap1 login)")
	fs.StringVar(&c.Password, "password", "", "password")
	fs.StringVar(&c.PasswordFile, "password-file", "", "read the password from this file")
	fs.StringVar(&c.AuthURL, "auth-url", "auto", "chap1 challenge base URL (https://HOST:PORT); auto = from -url; none = plain password")
	fs.StringVar(&c.CACert, "cacert", "", "PEM certificate to trust (default: skip TLS verification)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Version = byte(version)
	def := map[string][2]int{"fanin": {8, 1}, "fanout": {1, 50}, "latency": {1, 1}}[c.Scenario]
	if c.Publishers == 0 {
		c.Publishers = def[0]
	}
	if c.Subscribers == 0 {
		c.Subscribers = def[1]
	}
	switch c.AuthURL {
	case "auto":
		c.AuthURL = authURLFromWS(c.URL)
	case "none":
		c.AuthURL = ""
	}
	if c.Username == "" {
		c.AuthURL = ""
	}
	if c.Transport == "ws" && c.AuthURL != "" && c.DialParallel > 8 {
		// Each chap1 dial holds an unused nonce until its CONNECT; the
		// server keeps at most 16 per address and evicts the oldest.
		c.DialParallel = 8
	}
	if c.KeepAlive < time.Second {
		c.KeepAlive = time.Second
	}
	return c, c.Validate()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "table" {
		return printTable(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "freeport" {
		// For bench.sh: a loopback port that was free a moment ago.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("mqttbench: freeport: %w", err)
		}
		defer l.Close()
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
		return nil
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	d, err := newDialer(cfg)
	if err != nil {
		return err
	}
	var res Result
	if cfg.Scenario == "idle" {
		res, err = runIdle(ctx, cfg, d)
	} else {
		res, err = runTraffic(ctx, cfg, d)
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.Broker, res.Scenario, res.Transport, res.QoS, res.Version = cfg.Broker, cfg.Scenario, cfg.Transport, cfg.QoS, cfg.Version
	line, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", line)
	fmt.Fprintln(stderr, res.human())
	if err != nil {
		return err
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "mqttbench: %v\n", err)
		os.Exit(1)
	}
}
