package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readRSS returns VmRSS of process pid in KB.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("mqttbench: read rss: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "VmRSS:" {
			return strconv.ParseInt(string(f[1]), 10, 64)
		}
	}
	return 0, fmt.Errorf("mqttbench: read rss: no VmRSS in /proc/%d/status", pid)
}

// raiseFileLimit lifts the soft open-file limit to the hard one so that the
// idle scenario can hold many connections.
func raiseFileLimit() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// runIdle opens cfg.Conns connections (CONNECT, CONNACK, keepalive pings),
// holds them for cfg.Hold and reports the broker's RSS growth per connection.
func runIdle(ctx context.Context, cfg Config, d *dialer) (Result, error) {
	if cfg.PID == 0 {
		return Result{}, errNoPID
	}
	raiseFileLimit()
	res := Result{Conns: cfg.Conns}
	before, err := readRSS(cfg.PID)
	if err != nil {
		return res, err
	}
	res.RSSBeforeKB = before
	id := runID()
	conns := make([]*client, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	_ = dialAll(ctx, cfg, cfg.Conns, func(i int) error {
		c, err := d.dial(ctx, fmt.Sprintf("mqttbench-%s-i%d", id, i))
		if err != nil {
			failed.Add(1)
			once.Do(func() { firstErr = err })
			return nil
		}
		conns[i] = c
		return nil
	})
	res.Failed = failed.Load()
	if firstErr != nil {
		res.Error = firstErr.Error()
	}
	// Keep the sessions alive for the hold time: ping at half the keepalive.
	hold := time.NewTimer(cfg.Hold)
	defer hold.Stop()
	ping := time.NewTicker(max(cfg.KeepAlive/2, time.Second))
	defer ping.Stop()
	var buf [2]byte
	for wait := true; wait; {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-hold.C:
			wait = false
		case <-ping.C:
			for _, c := range conns {
				if c != nil {
					_, _ = c.w.Write(appendPingreq(buf[:0]))
					_ = c.w.Flush()
				}
			}
		}
	}
	after, err := readRSS(cfg.PID)
	if err != nil {
		return res, err
	}
	res.RSSAfterKB = after
	if held := int64(cfg.Conns) - res.Failed; held > 0 {
		res.KBPerConn = float64(after-before) / float64(held)
	}
	for i, c := range conns {
		if c != nil {
			_, _ = c.w.Write(appendDisconnect(buf[:0]))
			_ = c.w.Flush()
			c.Close()
			conns[i] = nil
		}
	}
	return res, nil
}
