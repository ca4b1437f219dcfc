package gatetest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// Addrs are the bound listener addresses that `mqttgate run --addr-file
// FILE` writes once the gateway is ready; empty for a listener that is off.
type Addrs struct {
	MQTT    string `json:"mqtt"`
	MQTTTLS string `json:"mqtt_tls"`
	HTTP    string `json:"http"`
	Pprof   string `json:"pprof"`
}

// WaitAddrFile waits until path holds the addresses the gateway wrote
// (the file appears whole: the gateway renames it into place). It fails
// when exited is closed first or timeout passes.
func WaitAddrFile(path string, exited <-chan struct{}, timeout time.Duration) (Addrs, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var a Addrs
			if err := json.Unmarshal(b, &a); err != nil {
				return a, fmt.Errorf("gatetest: addr file %s: %w", path, err)
			}
			return a, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Addrs{}, fmt.Errorf("gatetest: addr file: %w", err)
		}
		if time.Now().After(deadline) {
			return Addrs{}, fmt.Errorf("gatetest: no addr file %s within %v", path, timeout)
		}
		select {
		case <-exited:
			return Addrs{}, errors.New("gatetest: mqttgate exited before it wrote its addr file")
		case <-tick.C:
		}
	}
}

// WaitHealthy waits until baseURL/healthz answers 200, the gateway's own
// word that its broker serves. Certificates are not checked: the test
// has only just learnt the address.
func WaitHealthy(baseURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/healthz", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("gatetest: %s/healthz not 200 within %v: %v", baseURL, timeout, last)
		case <-tick.C:
		}
	}
}

// RefusingAddr returns a loopback HOST:PORT where a listener closes every
// connection it accepts: an upstream that is down, on a port that stays
// taken for the whole test (unlike a port that was free a moment ago).
func RefusingAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}
