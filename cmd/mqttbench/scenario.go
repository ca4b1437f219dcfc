package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// subscriber reads deliveries, acknowledges QoS 1 ones (flushing its acks
// whenever its input buffer runs dry) and tracks sequence numbers.
type subscriber struct {
	c        *client
	trackers []*seqTracker
	received atomic.Int64 // deliveries, duplicates included
	lastNS   atomic.Int64 // time of the latest delivery, ns since base
	foreign  int64
	lat      []int64 // latency samples (latency scenario only)
	keepLat  bool
	err      error
}

func (s *subscriber) run(base time.Time) {
	var ack [4]byte
	for {
		h, body, err := s.c.r.Next()
		if err != nil {
			s.err = err
			return
		}
		if h>>4 != typePublish {
			continue
		}
		p, err := parsePublish(h, body, s.c.version)
		if err != nil {
			s.err = err
			return
		}
		now := int64(time.Since(base))
		if p.QoS == 1 {
			if _, err := s.c.w.Write(appendPuback(ack[:0], p.ID)); err != nil {
				s.err = err
				return
			}
		}
		pub, seq, ts, ok := readPayload(p.Payload)
		if !ok || int(pub) >= len(s.trackers) {
			s.foreign++
		} else {
			s.trackers[pub].record(seq)
			if s.keepLat {
				s.lat = append(s.lat, now-ts)
			}
		}
		s.lastNS.Store(now)
		s.received.Add(1)
		if s.c.r.Buffered() == 0 && s.c.w.Buffered() > 0 {
			if err := s.c.w.Flush(); err != nil {
				s.err = err
				return
			}
		}
	}
}

// publisher sends sequence-numbered messages from one preencoded packet it
// patches in place: no allocation per message.
type publisher struct {
	c      *client
	index  uint32
	qos    byte
	pkt    []byte
	idOff  int
	payOff int
	sent   int64
	acked  atomic.Int64
	signal chan struct{}
	err    error
}

func newPublisher(c *client, index int, topic string, qos byte, size int) *publisher {
	payload := make([]byte, max(size, payloadHeader))
	pkt := appendPublish(nil, c.version, topic, qos, 1, payload)
	rl := len(pkt) - 1
	rl -= varintLen(rl)
	return &publisher{
		c: c, index: uint32(index), qos: qos, pkt: pkt,
		idOff:  1 + varintLen(rl) + 2 + len(topic),
		payOff: len(pkt) - len(payload),
		signal: make(chan struct{}, 1),
	}
}

func (p *publisher) write(base time.Time) error {
	if p.qos > 0 {
		id := uint16(p.sent%65535) + 1
		binary.BigEndian.PutUint16(p.pkt[p.idOff:], id)
	}
	putPayload(p.pkt[p.payOff:], p.index, uint64(p.sent), int64(time.Since(base)))
	_, err := p.c.w.Write(p.pkt)
	p.sent++
	return err
}

// readAcks counts PUBACKs until the connection ends.
func (p *publisher) readAcks() {
	for {
		h, _, err := p.c.r.Next()
		if err != nil {
			return
		}
		if h>>4 == typePuback {
			p.acked.Add(1)
			select {
			case p.signal <- struct{}{}:
			default:
			}
		}
	}
}

// flood publishes as fast as the window and the socket allow until the
// deadline or count is reached, then waits (up to drain) for outstanding acks.
func (p *publisher) flood(base time.Time, deadline time.Time, count int64, window, batch int, drain time.Duration) {
	done := func() bool { return (count > 0 && p.sent >= count) || (count == 0 && !time.Now().Before(deadline)) }
	for !done() {
		for n := 0; n < batch && (count == 0 || p.sent < count); n++ {
			if p.qos > 0 && p.sent-p.acked.Load() >= int64(window) {
				break
			}
			if p.err = p.write(base); p.err != nil {
				return
			}
		}
		if p.err = p.c.w.Flush(); p.err != nil {
			return
		}
		if p.qos > 0 && p.sent-p.acked.Load() >= int64(window) {
			select {
			case <-p.signal:
			case <-time.After(drain):
				p.err = fmt.Errorf("no PUBACK for %v with %d in flight", drain, window)
				return
			}
		}
	}
	if p.qos > 0 {
		end := time.Now().Add(drain)
		for p.acked.Load() < p.sent && time.Now().Before(end) {
			select {
			case <-p.signal:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// paced publishes at a fixed rate, one flush per message.
func (p *publisher) paced(base time.Time, start time.Time, rate int, d time.Duration) {
	period := time.Second / time.Duration(rate)
	n := int64(d / period)
	for i := int64(0); i < n; i++ {
		if w := time.Until(start.Add(time.Duration(i) * period)); w > 0 {
			time.Sleep(w)
		}
		if p.err = p.write(base); p.err != nil {
			return
		}
		if p.err = p.c.w.Flush(); p.err != nil {
			return
		}
	}
}

func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runTraffic runs fan-in, fan-out or latency: subscribers first, then
// publishers started together; it drains until every message arrived or no
// delivery came for cfg.Drain.
func runTraffic(ctx context.Context, cfg Config, d *dialer) (Result, error) {
	res := Result{Pubs: cfg.Publishers, Subs: cfg.Subscribers}
	prefix := "mqttbench/" + runID() + "/"
	base := time.Now()
	latency := cfg.Scenario == "latency"
	expect := int(cfg.Duration.Seconds()*300000) / max(cfg.Publishers, 1)
	if latency {
		expect = int(cfg.Duration.Seconds()*float64(cfg.Rate)) + 16
	}
	if cfg.Count > 0 {
		expect = int(cfg.Count)
	}
	subs := make([]*subscriber, cfg.Subscribers)
	pubs := make([]*publisher, cfg.Publishers)
	defer func() {
		for _, s := range subs {
			if s != nil {
				s.c.Close()
			}
		}
		for _, p := range pubs {
			if p != nil {
				p.c.Close()
			}
		}
	}()
	filter, topicOf := prefix+"t", func(int) string { return prefix + "t" }
	if cfg.Scenario == "fanin" {
		filter, topicOf = prefix+"#", func(i int) string { return fmt.Sprintf("%sp%d", prefix, i) }
	}
	if err := dialAll(ctx, cfg, cfg.Subscribers, func(i int) error {
		c, err := d.dial(ctx, fmt.Sprintf("mqttbench-%s-s%d", prefix[10:18], i))
		if err != nil {
			return err
		}
		s := &subscriber{c: c, trackers: make([]*seqTracker, cfg.Publishers), keepLat: latency}
		subs[i] = s
		for j := range s.trackers {
			s.trackers[j] = newSeqTracker(expect)
		}
		if latency {
			s.lat = make([]int64, 0, expect)
		}
		return c.subscribe(filter, byte(cfg.QoS))
	}); err != nil {
		return res, err
	}
	if err := dialAll(ctx, cfg, cfg.Publishers, func(i int) error {
		c, err := d.dial(ctx, fmt.Sprintf("mqttbench-%s-p%d", prefix[10:18], i))
		if err != nil {
			return err
		}
		pubs[i] = newPublisher(c, i, topicOf(i), byte(cfg.QoS), cfg.PayloadSize)
		return nil
	}); err != nil {
		return res, err
	}
	var subWG sync.WaitGroup
	for _, s := range subs {
		subWG.Go(func() { s.run(base) })
	}
	for _, p := range pubs {
		go p.readAcks()
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var pubWG sync.WaitGroup
	for _, p := range pubs {
		pubWG.Go(func() {
			if latency {
				p.paced(base, start, cfg.Rate, cfg.Duration)
			} else {
				p.flood(base, deadline, cfg.Count, cfg.Window, cfg.Batch, cfg.Drain)
			}
		})
	}
	pubWG.Wait()
	pubEnd := time.Since(start)
	var sent, acked int64
	for _, p := range pubs {
		sent += p.sent
		acked += p.acked.Load()
		if p.err != nil && res.Error == "" {
			res.Error = fmt.Sprintf("publisher %d: %v", p.index, p.err)
		}
	}
	want := sent * int64(cfg.Subscribers)
	// Drain: wait for all deliveries, or until none arrived for cfg.Drain.
	last, lastChange := int64(-1), time.Now()
	for {
		var got int64
		for _, s := range subs {
			got += s.received.Load()
		}
		if got >= want {
			break
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > cfg.Drain {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	var lastNS int64
	for _, s := range subs {
		lastNS = max(lastNS, s.lastNS.Load())
	}
	for _, s := range subs {
		s.c.Close()
	}
	subWG.Wait()
	var lat []int64
	for _, s := range subs {
		for _, t := range s.trackers {
			res.Received += t.unique
			res.Dup += t.dup
			res.OutOfOrder += t.ooo
		}
		res.Foreign += s.foreign
		lat = append(lat, s.lat...)
	}
	res.Sent, res.Acked, res.Expected = sent, acked, want
	res.Lost = want - res.Received
	if res.Expected > 0 {
		res.LostPct = 100 * float64(res.Lost) / float64(res.Expected)
	}
	elapsed := time.Duration(lastNS) - start.Sub(base)
	if elapsed < pubEnd {
		elapsed = pubEnd
	}
	res.ElapsedS = elapsed.Seconds()
	res.SendRate = float64(sent) / pubEnd.Seconds()
	res.Rate = float64(res.Received+res.Dup) / elapsed.Seconds()
	if latency {
		p50, p99, mx := latencySummary(lat)
		res.P50ms, res.P99ms, res.MaxMs = ms(p50), ms(p99), ms(mx)
	}
	if res.Error == "" && cfg.QoS > 0 && acked < sent {
		res.Error = fmt.Sprintf("%d of %d QoS 1 messages never acknowledged", sent-acked, sent)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dialAll runs fn(0..n-1) with bounded parallelism.
func dialAll(ctx context.Context, cfg Config, n int, fn func(i int) error) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(cfg.DialParallel)
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

var errNoPID = errors.New("mqttbench: idle: -pid is required to read the broker's RSS")
