package gatetest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoBin is where Debian's mosquitto package installs the broker.
const MosquittoBin = "/usr/sbin/mosquitto"

// MosquittoOptions say how to run a mosquitto. The zero value is an
// anonymous broker without persistence.
type MosquittoOptions struct {
	// Persist turns on persistence in the broker's own temp dir; Stop
	// saves it and Start loads it again.
	Persist bool
	// Extra is appended to mosquitto.conf, e.g. "cafile ...\ncertfile
	// ...\nkeyfile ...\n" to make the listener TLS.
	Extra string
}

// Mosquitto is a real Debian mosquitto on a loopback port of its own
// (the same port across Stop and Start), anonymous clients allowed and
// no limits on queued or in-flight messages. Not safe for concurrent use
// by several goroutines; the test's cleanup stops it.
type Mosquitto struct {
	t    testing.TB
	o    MosquittoOptions
	addr string
	// fixed is set once the address was handed out or served: from then on
	// a port in use fails the test instead of moving the broker.
	fixed bool
	dir   string
	log   Buffer
	cmd   *exec.Cmd
	done  chan struct{}
}

// NewMosquitto prepares a mosquitto on a free loopback port without
// starting it, so a test can point a gateway at an upstream that is down.
// It fails the test when mosquitto is not installed.
func NewMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(MosquittoBin); err != nil {
		t.Fatalf("gatetest: %s is missing: install Debian's mosquitto (apt-get install -y mosquitto mosquitto-clients, or `make test`): %v", MosquittoBin, err)
	}
	m := &Mosquitto{t: t, o: o, dir: t.TempDir()}
	m.addr = m.pickAddr()
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.log.String())
		}
	})
	return m
}

// StartMosquitto is NewMosquitto followed by Start.
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	m := NewMosquitto(t, o)
	m.Start()
	return m
}

// Addr is the broker's HOST:PORT.
func (m *Mosquitto) Addr() string {
	m.fixed = true
	return m.addr
}

// Port is the broker's port number.
func (m *Mosquitto) Port() int {
	_, p, _ := net.SplitHostPort(m.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// URL is "tcp://HOST:PORT" (use "ssl://"+Addr() with a TLS listener).
func (m *Mosquitto) URL() string { return "tcp://" + m.Addr() }

// pickAddr asks the kernel for a free loopback port. Mosquitto cannot bind
// port 0 and report it, so the port is free only when asked; Start moves
// to another one if it was taken in between (see there).
func (m *Mosquitto) pickAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Log is what mosquitto wrote so far.
func (m *Mosquitto) Log() string { return m.log.String() }

// Start runs mosquitto (again, after Stop) and waits until it accepts
// connections; it fails the test if it exits or does not listen within 20 s.
// If its port was taken since NewMosquitto picked it, and nobody has asked
// for the address yet, it retries on a new port (up to 5 times).
func (m *Mosquitto) Start() {
	m.t.Helper()
	for try := 1; ; try++ {
		err := m.start()
		if err == nil {
			m.fixed = true
			return
		}
		if !errors.Is(err, errPortTaken) || m.fixed || try == 5 {
			m.t.Fatalf("%v\n%s", err, m.log.String())
		}
		m.addr = m.pickAddr()
	}
}

var errPortTaken = errors.New("gatetest: mosquitto: port in use")

func (m *Mosquitto) start() error {
	_, port, _ := net.SplitHostPort(m.addr)
	conf := fmt.Sprintf("user root\nlistener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n", port)
	if m.o.Persist {
		conf += fmt.Sprintf("persistence true\npersistence_location %s/\nautosave_interval 1\n", m.dir)
	} else {
		conf += "persistence false\n"
	}
	conf += m.o.Extra
	path := filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return err
	}
	logStart := len(m.log.String())
	cmd := exec.Command(MosquittoBin, "-c", path)
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gatetest: start mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			m.cmd = nil
			if strings.Contains(m.log.String()[logStart:], "Address already in use") {
				return fmt.Errorf("%w: %s", errPortTaken, m.addr)
			}
			return errors.New("gatetest: mosquitto exited at start")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gatetest: mosquitto does not listen on %s: %v", m.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends mosquitto with SIGINT (like SIGTERM, it saves its persistence file) and
// kills it if it has not exited within 15 s. It does nothing when
// mosquitto is not running.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Buffer is a bytes.Buffer safe for concurrent use: a child process or a
// logger writes while the test reads. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
