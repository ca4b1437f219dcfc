package login

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

var (
	home  = netip.MustParseAddr("192.0.2.1")
	other = netip.MustParseAddr("192.0.2.2")
)

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	users, err := OpenUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := users.Add("alice", "viewer", "s3cret", MinIterations); err != nil {
		t.Fatal(err)
	}
	if err := users.Add("bob", "admin", "hunter2", MinIterations); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, users, []byte("0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// login runs the client's side of the two-step form.
func login(t *testing.T, s *Service, user, password, clientID string, from netip.Addr) (string, error) {
	t.Helper()
	ch, err := s.Challenge(user, from)
	if err != nil {
		return "", err
	}
	salt, err := b64.DecodeString(ch.Salt)
	if err != nil {
		t.Fatal(err)
	}
	return PasswordField(ch.Nonce, Proof(ClientKey(password, salt, ch.Iterations), ch.Nonce, user, clientID)), nil
}

func TestTwoStep(t *testing.T) {
	s := newService(t, Config{})
	pw, err := login(t, s, "alice", "s3cret", "c1", home)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CheckPassword("alice", "c1", pw, home, false)
	if err != nil || u.Role != "viewer" {
		t.Fatalf("good login: %v, %+v", err, u)
	}
	if _, err := s.CheckPassword("alice", "c1", pw, home, false); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("replayed nonce: %v", err)
	}

	refused := map[string]func() (string, string, string, netip.Addr){
		"wrong password": func() (string, string, string, netip.Addr) {
			pw, _ := login(t, s, "alice", "wrong", "c1", home)
			return "alice", "c1", pw, home
		},
		"another address": func() (string, string, string, netip.Addr) {
			pw, _ := login(t, s, "alice", "s3cret", "c1", home)
			return "alice", "c1", pw, other
		},
		"another user": func() (string, string, string, netip.Addr) {
			pw, _ := login(t, s, "alice", "s3cret", "c1", home)
			return "bob", "c1", pw, home
		},
		"another client id": func() (string, string, string, netip.Addr) {
			pw, _ := login(t, s, "alice", "s3cret", "c1", home)
			return "alice", "c2", pw, home
		},
		"unknown user": func() (string, string, string, netip.Addr) {
			pw, _ := login(t, s, "mallory", "s3cret", "c1", home)
			return "mallory", "c1", pw, home
		},
		"malformed": func() (string, string, string, netip.Addr) {
			return "alice", "c1", "chap1:nonsense", home
		},
		"plain where not allowed": func() (string, string, string, netip.Addr) {
			return "alice", "c1", "s3cret", home
		},
	}
	for name, f := range refused {
		user, cid, pw, from := f()
		if _, err := s.CheckPassword(user, cid, pw, from, false); !errors.Is(err, ErrNotAuthorized) {
			t.Errorf("%s: got %v, want not authorized", name, err)
		}
		s.guard = newGuard(s.cfg) // keep the blocked list out of this test
	}
}

func TestUnknownUserLooksKnown(t *testing.T) {
	s := newService(t, Config{})
	a, _ := s.Challenge("nobody", home)
	b, _ := s.Challenge("nobody", other)
	k, _ := s.Challenge("alice", home)
	if a.Salt != b.Salt || len(a.Salt) != len(k.Salt) || a.Iterations != DefaultIterations || a.Nonce == b.Nonce {
		t.Errorf("unknown user's challenge differs in shape: %+v %+v %+v", a, b, k)
	}
}

func TestExpiredNonce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{ChallengeTTL: 30 * time.Second})
		pw, _ := login(t, s, "alice", "s3cret", "c1", home)
		time.Sleep(31 * time.Second)
		if _, err := s.CheckPassword("alice", "c1", pw, home, false); !errors.Is(err, ErrNotAuthorized) {
			t.Errorf("expired nonce: %v", err)
		}
	})
}

func TestNoncesPerAddressBounded(t *testing.T) {
	s := newService(t, Config{NoncesPerAddress: 4})
	first, _ := login(t, s, "alice", "s3cret", "c1", home)
	for range 4 {
		login(t, s, "alice", "s3cret", "c1", home)
	}
	if _, err := s.CheckPassword("alice", "c1", first, home, false); err == nil {
		t.Error("the oldest nonce survived past the per-address bound")
	}
	if n := len(s.byAddr[Source(home)]); n > 4 {
		t.Errorf("%d nonces held for one address", n)
	}
}

func TestPlainPassword(t *testing.T) {
	s := newService(t, Config{})
	if _, err := s.CheckPassword("bob", "d1", "hunter2", home, true); err != nil {
		t.Fatal(err)
	}
	// Cached now; a wrong password must still fail.
	if _, err := s.CheckPassword("bob", "d1", "hunter3", home, true); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("wrong plain password after a cached good one: %v", err)
	}
	if _, err := s.CheckPassword("bob", "d1", "hunter2", home, true); err != nil {
		t.Errorf("cached good password: %v", err)
	}
	// A password change invalidates the cache.
	if err := s.Users().SetPassword("bob", "new-one", MinIterations); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword("bob", "d1", "hunter2", home, true); err == nil {
		t.Error("old password accepted after passwd")
	}
	if _, err := s.CheckPassword("bob", "d1", "new-one", home, true); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestLockout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{MaxFailures: 5, Block: time.Minute, BlockMax: 3 * time.Minute})
		for range 5 {
			s.CheckPassword("alice", "c1", "wrong", home, true)
		}
		var be *BlockedError
		if _, err := s.Challenge("alice", home); !errors.As(err, &be) || be.RetryAfter != time.Minute {
			t.Fatalf("challenge while blocked: %v", err)
		}
		if _, err := s.CheckPassword("alice", "c1", "s3cret", home, true); !errors.As(err, &be) {
			t.Fatalf("right password while blocked: %v", err)
		}
		if _, err := s.Challenge("alice", other); err != nil {
			t.Errorf("another address is blocked too: %v", err)
		}
		time.Sleep(time.Minute + time.Second)
		if s.blocked(home, "alice") != nil {
			t.Fatal("still blocked after the block")
		}
		for range 5 {
			s.CheckPassword("alice", "c1", "wrong", home, true)
		}
		if d := retryIn(s, "alice", home); d != 2*time.Minute {
			t.Errorf("second block is %s, want doubled to 2m", d)
		}
		time.Sleep(2*time.Minute + time.Second)
		for range 5 {
			s.CheckPassword("alice", "c1", "wrong", home, true)
		}
		if d := retryIn(s, "alice", home); d != 3*time.Minute {
			t.Errorf("third block is %s, want capped at 3m", d)
		}
		time.Sleep(3*time.Minute + time.Second)
		// Success clears the failure count.
		for range 4 {
			s.CheckPassword("alice", "c1", "wrong", home, true)
		}
		if _, err := s.CheckPassword("alice", "c1", "s3cret", home, true); err != nil {
			t.Fatal(err)
		}
		s.CheckPassword("alice", "c1", "wrong", home, true)
		if s.blocked(home, "alice") != nil {
			t.Error("blocked after a success reset the count")
		}
	})
}

func TestInBandProof(t *testing.T) {
	s := newService(t, Config{})
	ch, _ := s.Challenge("alice", home)
	salt, _ := b64.DecodeString(ch.Salt)
	proof := Proof(ClientKey("s3cret", salt, ch.Iterations), ch.Nonce, "alice", "c9")
	if _, err := s.VerifyProof("alice", "c9", ch.Nonce, proof, home); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyProof("alice", "c9", ch.Nonce, proof, home); err == nil {
		t.Error("in-band nonce reused")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Iterations: 10, Block: time.Hour, BlockMax: time.Minute}).Validate(); err == nil {
		t.Error("bad config accepted")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
}

// retryIn is how long logins of user from addr are still blocked (0: not).
func retryIn(s *Service, user string, addr netip.Addr) time.Duration {
	var be *BlockedError
	if errors.As(s.blocked(addr, user), &be) {
		return be.RetryAfter
	}
	return 0
}
