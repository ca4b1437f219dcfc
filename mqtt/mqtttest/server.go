package mqtttest

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mqttgate/gatetest"
	"mqttgate/login"
	"mqttgate/mqtt"
)

// Iterations is the PBKDF2 iteration count of the test users: the lowest
// login accepts, so logins are quick.
const Iterations = login.MinIterations

// User is a login the server's users file holds.
type User struct {
	Name, Role, Password string
}

// DefaultUsers are the users of a server whose Options name none: one per
// built-in role (and two devices), each with the password "pw-" + name.
func DefaultUsers() []User {
	return []User{
		{"admin", "admin", "pw-admin"}, {"op", "operator", "pw-op"}, {"view", "viewer", "pw-view"},
		{"dev1", "device", "pw-dev1"}, {"dev2", "device", "pw-dev2"},
	}
}

// Options say how to run a Server. The zero value is DefaultUsers, the
// default login settings and debug logs kept in Server.Logs.
type Options struct {
	// Users are added to a fresh users file; DefaultUsers when nil.
	Users []User
	// Login configures the login service; Iterations is always Iterations.
	Login login.Config
	// Logins, when set, is used instead of a new login service (Users and
	// Login are then ignored): e.g. a second broker sharing the first's.
	Logins *login.Service
	// Logger receives the broker's logs instead of Server.Logs.
	Logger *slog.Logger
}

// Server is a running broker. Its fields are read-only.
type Server struct {
	Broker *mqtt.Broker
	Logins *login.Service
	Config mqtt.Config
	// Addr is HOST:PORT of the plain MQTT listener.
	Addr string
	// Logs holds the broker's logs unless Options.Logger was set; they are
	// printed when the test fails.
	Logs *gatetest.Buffer

	users  []User
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	t      testing.TB
}

// Config is mqtt.DefaultConfig with the plain listener on 127.0.0.1:0 and
// a fresh data dir.
func Config(t testing.TB) mqtt.Config {
	cfg := mqtt.DefaultConfig()
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	return cfg
}

// NewServer runs a broker on cfg until the test ends (or Close) and
// returns once it is ready. opts may be nil.
func NewServer(t testing.TB, cfg mqtt.Config, opts *Options) *Server {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{Config: cfg, users: opts.Users, done: make(chan error, 1), t: t}
	if s.users == nil {
		s.users = DefaultUsers()
	}
	s.Logins = opts.Logins
	if s.Logins == nil {
		s.Logins = NewLogins(t, s.users, opts.Login)
	}
	logger := opts.Logger
	if logger == nil {
		s.Logs = &gatetest.Buffer{}
		logger = slog.New(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := mqtt.New(cfg, logger, s.Logins)
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	s.Broker = b
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- b.Run(ctx) }()
	select {
	case <-b.Ready():
	case err := <-s.done:
		cancel()
		t.Fatalf("mqtttest: broker Run: %v", err)
	case <-time.After(gatetest.WaitTimeout):
		cancel()
		t.Fatalf("mqtttest: broker not ready within %v", gatetest.WaitTimeout)
	}
	if a := b.TCPAddr(); a != nil {
		s.Addr = a.String()
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() && s.Logs != nil {
			t.Logf("broker log:\n%s", s.Logs.String())
		}
	})
	return s
}

// Close stops the broker and waits for Run to return; it reports a test
// error when Run fails or takes longer than 30 s. Closing twice does
// nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("mqtttest: broker Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Errorf("mqtttest: broker did not stop within 30 s")
		}
	})
}

// Password is user's password, "" for a user the server did not create.
func (s *Server) Password(user string) string {
	for _, u := range s.users {
		if u.Name == user {
			return u.Password
		}
	}
	return ""
}

// NewLogins returns a login service over a fresh users file holding users.
func NewLogins(t testing.TB, users []User, cfg login.Config) *login.Service {
	t.Helper()
	f, err := login.OpenUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := f.Add(u.Name, u.Role, u.Password, Iterations); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Iterations = Iterations
	svc, err := login.New(cfg, f, bytes.Repeat([]byte{7}, 32), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
