package uplink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// session runs one connection: connect, announce, subscribe, send until
// the link drops or ctx is cancelled. up reports whether it connected.
func (u *Link) session(ctx context.Context) (up bool, err error) {
	lost := make(chan error, 1)
	c := u.newClient(lost)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go c.Disconnect(0) // let the attempt end in the background
		return false, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return false, fmt.Errorf("connect to %s: %w", redactURL(u.cfg.URL), err)
	}
	u.connects.Add(1)
	connectedAt := time.Now()
	u.log.Info("connected upstream", "url", redactURL(u.cfg.URL), "client_id", u.cfg.ClientID)

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	failed := make(chan error, 2)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	defer func() {
		u.live.Store(nil)
		u.setConnected(false)
		cancel()
		if ctx.Err() != nil {
			// Normal stop: say so before leaving; the will is for vanishing.
			if t := c.Publish(u.statusTopic, 1, true, "offline"); !t.WaitTimeout(time.Second) {
				u.log.Warn("no acknowledgement for the offline status")
			}
			c.Disconnect(250)
		} else {
			c.Disconnect(0)
		}
		wg.Wait()
	}()

	c.Publish(u.statusTopic, 1, true, "online") // best effort; the will covers loss
	for _, r := range u.cfg.Topics {
		if r.Direction == "out" {
			continue
		}
		st := c.Subscribe(r.RemotePrefix+r.Pattern, byte(r.QoS), nil)
		if !st.WaitTimeout(u.cfg.ConnectTimeout) {
			return true, errors.New("subscribe upstream: timed out")
		}
		if err := st.Error(); err != nil {
			return true, fmt.Errorf("subscribe upstream %s: %w", r.RemotePrefix+r.Pattern, err)
		}
	}
	live := &liveLink{ch: make(chan liveMsg, liveBuffer)}
	wg.Go(func() { u.sendLive(sctx, c, live, fail) })
	if q := u.q.Load(); q != nil {
		wg.Go(func() { u.sendQueued(sctx, c, q, connectedAt, fail) })
	}
	u.live.Store(live)
	u.setConnected(true)
	u.setError(nil)

	select {
	case <-ctx.Done():
		return true, nil
	case err := <-lost:
		return true, fmt.Errorf("connection lost: %w", err)
	case err := <-failed:
		return true, err
	}
}

// inflight is a message awaiting the upstream's acknowledgement.
type inflight struct {
	seq uint64 // queue sequence number, 0 for live messages
	tok paho.Token
}

// window bounds the messages awaiting acknowledgement and hands the
// acknowledged ones, in order and in batches, to acked.
type window struct {
	slots chan struct{}
	fifo  chan inflight
}

func newWindow(n int) *window {
	return &window{slots: make(chan struct{}, n), fifo: make(chan inflight, n)}
}

// add waits for a free slot and records t.
func (w *window) add(ctx context.Context, it inflight) bool {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	w.fifo <- it // never blocks: fifo has as many places as slots
	return true
}

// collect waits for the tokens in order until ctx ends or one fails.
func (w *window) collect(ctx context.Context, acked func([]uint64, int) error) error {
	var pending []inflight
	for {
		if len(pending) == 0 {
			select {
			case it := <-w.fifo:
				pending = append(pending, it)
			case <-ctx.Done():
				return nil
			}
		}
	more:
		for {
			select {
			case it := <-w.fifo:
				pending = append(pending, it)
			default:
				break more
			}
		}
		select {
		case <-pending[0].tok.Done():
		case <-ctx.Done():
			return nil
		}
		var seqs []uint64
		n := 0
		for ; n < len(pending) && tokenDone(pending[n].tok); n++ {
			if err := pending[n].tok.Error(); err != nil {
				return fmt.Errorf("publish upstream: %w", err)
			}
			if pending[n].seq != 0 {
				seqs = append(seqs, pending[n].seq)
			}
		}
		pending = pending[n:]
		for range n {
			<-w.slots
		}
		if err := acked(seqs, n); err != nil {
			return err
		}
	}
}

func tokenDone(t paho.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// sendQueued sends the queue from its head (everything not yet
// acknowledged, also what an earlier connection sent) and then follows
// its tail. The backlog from before connectedAt is paced at drain_rate.
func (u *Link) sendQueued(ctx context.Context, c paho.Client, q *queue, connectedAt time.Time, fail func(error)) {
	w := newWindow(u.cfg.MaxInflight)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := w.collect(ctx, func(seqs []uint64, n int) error {
			u.sent.Add(int64(n))
			if err := q.remove(seqs); err != nil {
				return fmt.Errorf("remove acknowledged messages from the queue: %w", err)
			}
			return nil
		})
		if err != nil {
			fail(err)
			cancel()
		}
	}()
	defer func() { <-done }()
	pace := newPacer(u.cfg.DrainRate)
	var cursor uint64
	for {
		recs, err := q.read(cursor, u.cfg.MaxInflight)
		if err != nil {
			fail(fmt.Errorf("read queue: %w", err))
			return
		}
		if len(recs) == 0 {
			select {
			case <-q.notify:
				continue
			case <-ctx.Done():
				return
			}
		}
		for _, r := range recs {
			if r.Time.Before(connectedAt) {
				if d := pace.delay(time.Now()); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
			}
			if !w.add(ctx, inflight{seq: r.Seq, tok: c.Publish(r.Topic, r.QoS, r.Retain, r.Payload)}) {
				return
			}
			cursor = r.Seq
		}
	}
}

// sendLive sends the messages that bypass the queue.
func (u *Link) sendLive(ctx context.Context, c paho.Client, l *liveLink, fail func(error)) {
	w := newWindow(u.cfg.MaxInflight)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.collect(ctx, func(_ []uint64, n int) error { u.sent.Add(int64(n)); return nil }); err != nil {
			fail(err)
			cancel()
		}
	}()
	defer func() { <-done }()
	for {
		select {
		case m := <-l.ch:
			if !w.add(ctx, inflight{tok: c.Publish(m.topic, m.qos, m.retain, m.payload)}) {
				return
			}
		case <-ctx.Done():
			// Messages still buffered are lost with the link; count them.
			u.droppedOff.Add(int64(len(l.ch)))
			return
		}
	}
}

// redactURL drops a password from a URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}
