package gatetest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	dir  string
	log  Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

// NewMosquitto prepares a mosquitto on a free loopback port without
// starting it, so a test can point a gateway at an upstream that is down.
// It fails the test when mosquitto is not installed.
func NewMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(MosquittoBin); err != nil {
		t.Fatalf("gatetest: %s is missing: install Debian's mosquitto (apt-get install -y mosquitto mosquitto-clients, or `make test`): %v", MosquittoBin, err)
	}
	m := &Mosquitto{t: t, o: o, addr: FreePort(t), dir: t.TempDir()}
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
func (m *Mosquitto) Addr() string { return m.addr }

// Port is the broker's port number.
func (m *Mosquitto) Port() int {
	_, p, _ := net.SplitHostPort(m.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// URL is "tcp://HOST:PORT" (use "ssl://"+Addr() with a TLS listener).
func (m *Mosquitto) URL() string { return "tcp://" + m.addr }

// Log is what mosquitto wrote so far.
func (m *Mosquitto) Log() string { return m.log.String() }

// Start runs mosquitto (again, after Stop) and waits until it accepts
// connections; it fails the test if it exits or does not listen within 20 s.
func (m *Mosquitto) Start() {
	m.t.Helper()
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
		m.t.Fatal(err)
	}
	cmd := exec.Command(MosquittoBin, "-c", path)
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("gatetest: start mosquitto: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			m.t.Fatalf("gatetest: mosquitto exited at start:\n%s", m.log.String())
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("gatetest: mosquitto does not listen on %s: %v\n%s", m.addr, err, m.log.String())
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
