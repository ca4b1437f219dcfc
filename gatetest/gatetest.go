// Package gatetest builds and runs the real mqttgate binary for end-to-end
// tests: on loopback ports of its own, with a data dir and a configuration
// the test gives, and it stops it when the test ends.
//
// Test code only; the gateway does not import it.
package gatetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BaseYAML is a configuration for tests: a fixed gateway id, a low PBKDF2
// iteration count so logins are quick, and debug logs.
const BaseYAML = `gateway_id: gw-test
log:
  level: debug
auth:
  iterations: 4096
`

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/mqttgate with the race detector, once per test
// process, and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mqttgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mqttgate")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "mqttgate/cmd/mqttgate")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("gatetest: building mqttgate: %v", buildErr)
	}
	return binPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Options say how to run the gateway.
type Options struct {
	// YAML is the configuration file's text; BaseYAML when empty. The
	// listener addresses and data dir are set by flags.
	YAML string
	// HTTPTLS is --http-tls: auto (default), on or off.
	HTTPTLS string
	// Args are more flags for `mqttgate run`.
	Args []string
}

// Gateway is a running mqttgate process.
type Gateway struct {
	t        testing.TB
	Dir      string // holds the config file and the data dir
	DataDir  string
	Config   string // path of the configuration file
	MQTTAddr string // HOST:PORT of the plain MQTT listener
	HTTPAddr string // HOST:PORT of the HTTP(S) server
	// MQTTTLSAddr is HOST:PORT of the MQTT TLS listener when the
	// configuration has one (mqtt.tls_addr, e.g. 127.0.0.1:0).
	MQTTTLSAddr string
	TLS         string
	AddrFile    string // --addr-file
	args        []string

	mu   sync.Mutex
	log  bytes.Buffer
	cmd  *exec.Cmd
	done chan error
}

// Start runs the gateway on ports the kernel picks and waits until its
// /healthz answers 200.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	Binary(t) // build first, so a build failure is reported before anything starts
	dir := t.TempDir()
	if o.YAML == "" {
		o.YAML = BaseYAML
	}
	if o.HTTPTLS == "" {
		o.HTTPTLS = "auto"
	}
	g := &Gateway{
		t: t, Dir: dir, DataDir: filepath.Join(dir, "data"), Config: filepath.Join(dir, "config.yaml"),
		MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", TLS: o.HTTPTLS, AddrFile: filepath.Join(dir, "addrs.json"),
	}
	if err := os.WriteFile(g.Config, []byte(o.YAML), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = o.Args
	g.start()
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Log())
		}
	})
	return g
}

// start runs the binary on the addresses in g (port 0 the first time, the
// bound ones after a restart) and waits for its addr file and /healthz.
func (g *Gateway) start() {
	g.t.Helper()
	if err := os.Remove(g.AddrFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		g.t.Fatal(err)
	}
	args := append([]string{"run", "-c", g.Config, "--data-dir", g.DataDir,
		"--mqtt-addr", g.MQTTAddr, "--http-addr", g.HTTPAddr, "--http-tls", g.TLS,
		"--addr-file", g.AddrFile}, g.args...)
	cmd := exec.Command(Binary(g.t), args...)
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("gatetest: start mqttgate: %v", err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			g.mu.Lock()
			g.log.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
		}
		close(exited)
		done <- cmd.Wait()
	}()
	g.mu.Lock()
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
	a, err := WaitAddrFile(g.AddrFile, exited, 60*time.Second)
	if err != nil {
		g.t.Fatalf("%v\n%s", err, g.Log())
	}
	g.MQTTAddr, g.HTTPAddr, g.MQTTTLSAddr = a.MQTT, a.HTTP, a.MQTTTLS
	if err := WaitHealthy(g.HTTPURL(), 60*time.Second); err != nil {
		g.t.Fatalf("%v\n%s", err, g.Log())
	}
}

// Log returns what the gateway logged so far.
func (g *Gateway) Log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

// WaitLog waits until the log holds substr.
func (g *Gateway) WaitLog(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(g.Log(), substr) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// AdminPassword reads the initial admin password from the data dir.
func (g *Gateway) AdminPassword() string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.DataDir, "initial-admin-password"))
	if err != nil {
		g.t.Fatalf("gatetest: initial admin password: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// Stop sends SIGTERM and waits for the process; it returns the exit error
// (nil for exit 0). Stopping a stopped gateway returns nil.
func (g *Gateway) Stop() error {
	return g.signal(syscall.SIGTERM)
}

// Kill sends SIGKILL and waits for the process.
func (g *Gateway) Kill() {
	g.signal(syscall.SIGKILL)
}

// Signal sends sig to the running gateway without waiting.
func (g *Gateway) Signal(sig os.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd != nil {
		g.cmd.Process.Signal(sig)
	}
}

func (g *Gateway) signal(sig syscall.Signal) error {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("gatetest: mqttgate did not stop within 30s after %v", sig)
	}
}

// Restart starts the gateway again on the same ports (those it bound the
// first time) and data dir.
func (g *Gateway) Restart() {
	g.t.Helper()
	g.Stop()
	g.start()
}

// Start after Stop or Kill: run the stopped gateway again.
func (g *Gateway) StartAgain() {
	g.t.Helper()
	g.start()
}

// CLI runs `mqttgate ARGS...` against this gateway's config and data dir,
// with stdin, and returns its combined output.
func (g *Gateway) CLI(stdin string, args ...string) (string, error) {
	args = append(args, "-c", g.Config, "--data-dir", g.DataDir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(g.t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// AddUser adds a user with the CLI.
func (g *Gateway) AddUser(name, role, password string) {
	g.t.Helper()
	if out, err := g.CLI(password+"\n", "user", "add", name, "--role", role, "--password-stdin"); err != nil {
		g.t.Fatalf("gatetest: user add %s: %v\n%s", name, err, out)
	}
}

// Pid returns the process id of the running gateway, 0 when it is stopped.
func (g *Gateway) Pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil || g.cmd.Process == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// RSS returns the resident set size of the running gateway in bytes, read
// from VmRSS in /proc/<pid>/status (Linux). Safe to call from any
// goroutine; an error when the gateway is not running.
func (g *Gateway) RSS() (int64, error) {
	pid := g.Pid()
	if pid == 0 {
		return 0, fmt.Errorf("gatetest: RSS: the gateway is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("gatetest: RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("gatetest: RSS: parse %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("gatetest: RSS: no VmRSS in /proc/%d/status", pid)
}

// HTTPURL is the base URL of the HTTP(S) server.
func (g *Gateway) HTTPURL() string {
	if g.TLS == "off" {
		return "http://" + g.HTTPAddr
	}
	return "https://" + g.HTTPAddr
}
