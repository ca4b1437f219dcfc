package login

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A dashboard typo must not lock out the devices behind the same address.
func TestTypoDoesNotLockOutOtherUsers(t *testing.T) {
	s := newService(t, Config{MaxFailures: 5})
	for range 5 {
		s.CheckPassword("alice", "dash", "typo", home, true)
	}
	var be *BlockedError
	if _, err := s.CheckPassword("alice", "dash", "s3cret", home, true); !errors.As(err, &be) || be.Address {
		t.Fatalf("alice from home after 5 failures: %v, want blocked for this user only", err)
	}
	if !strings.Contains(be.Error(), "for this user") {
		t.Errorf("refusal does not say why: %q", be.Error())
	}
	if _, err := s.CheckPassword("bob", "device", "hunter2", home, true); err != nil {
		t.Errorf("bob (right password, same address) refused: %v", err)
	}
	if _, blocked := s.Blocked(home); blocked {
		t.Error("the whole address is blocked for one user's typos")
	}
	if _, err := s.Challenge("alice", home); !errors.As(err, &be) {
		t.Errorf("challenge for the blocked user: %v, want blocked", err)
	}
	if _, err := s.Challenge("bob", home); err != nil {
		t.Errorf("challenge for another user: %v", err)
	}
}

// A device with one valid password must not guess other names forever.
func TestSuccessKeepsOtherNamesFailures(t *testing.T) {
	s := newService(t, Config{MaxFailures: 5})
	for range 5 {
		if _, err := s.CheckPassword("bob", "device", "hunter2", home, true); err != nil {
			t.Fatal(err)
		}
		s.CheckPassword("alice", "device", "guess", home, true)
	}
	var be *BlockedError
	if _, err := s.CheckPassword("alice", "device", "s3cret", home, true); !errors.As(err, &be) {
		t.Fatalf("alice after 5 failures interleaved with bob's successes: %v, want blocked", err)
	}
}

func TestSprayingBlocksTheAddress(t *testing.T) {
	s := newService(t, Config{MaxFailedUsers: 4})
	for _, name := range []string{"root", "pi", "admin", "mallory"} {
		s.CheckPassword(name, "x", "guess", home, true)
	}
	d, blocked := s.Blocked(home)
	if !blocked || d < 59*time.Second || d > time.Minute {
		t.Fatalf("after 4 user names: blocked %v for %s, want the address blocked for 1m", blocked, d)
	}
	var be *BlockedError
	if _, err := s.CheckPassword("bob", "device", "hunter2", home, true); !errors.As(err, &be) || !be.Address {
		t.Fatalf("bob from a spraying address: %v, want the address blocked", err)
	}
	if _, blocked := s.Blocked(other); blocked {
		t.Error("another address blocked")
	}
}

func TestIPv6Slash64IsOneSource(t *testing.T) {
	s := newService(t, Config{MaxFailures: 5})
	for i := range 5 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, byte(i + 1)})
		s.CheckPassword("alice", "c", "guess", a, true)
	}
	fresh := netip.MustParseAddr("2001:db8:0:1:ffff::1")
	var be *BlockedError
	if _, err := s.CheckPassword("alice", "c", "s3cret", fresh, true); !errors.As(err, &be) {
		t.Fatalf("another address of the same /64: %v, want blocked", err)
	}
	if _, err := s.CheckPassword("alice", "c", "s3cret", netip.MustParseAddr("2001:db8:0:2::1"), true); err != nil {
		t.Errorf("another /64: %v", err)
	}
	if got := Source(netip.MustParseAddr("::ffff:192.0.2.1")); got != netip.MustParsePrefix("192.0.2.1/32") {
		t.Errorf("Source of a mapped IPv4 address = %s", got)
	}
}

// /metrics must not tell an unknown user name from a wrong password.
func TestFailureReasonHidesUnknownUsers(t *testing.T) {
	s := newService(t, Config{MaxFailures: 100})
	s.CheckPassword("nobody", "c", "guess", home, true)
	s.CheckPassword("alice", "c", "guess", home, true)
	pw, _ := login(t, s, "nobody", "guess", "c", home)
	s.CheckPassword("nobody", "c", pw, home, false)
	pw, _ = login(t, s, "alice", "guess", "c", home)
	s.CheckPassword("alice", "c", pw, home, false)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	if got := testutil.ToFloat64(s.m.failures.WithLabelValues("bad_credentials")); got != 4 {
		t.Errorf("bad_credentials = %v, want 4", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); v == "unknown_user" || v == "wrong_password" || v == "wrong_proof" {
					t.Errorf("%s has reason %q", mf.GetName(), v)
				}
			}
		}
	}
}

// A user added (or changed) by another process works the moment the
// command returns, and the refusal before it is not what lets it in.
func TestUserChangedByAnotherProcess(t *testing.T) {
	s := newService(t, Config{})
	s.CheckPassword("alice", "c", "s3cret", home, true) // the file was just looked at
	cli, err := OpenUsers(s.Users().Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Add("carol", "device", "new-device", MinIterations); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword("carol", "d", "new-device", home, true); err != nil {
		t.Fatalf("user added by the CLI refused: %v", err)
	}
	if err := cli.SetPassword("alice", "changed", MinIterations); err != nil {
		t.Fatal(err)
	}
	pw, _ := login(t, s, "alice", "changed", "c", home)
	if _, err := s.CheckPassword("alice", "c", pw, home, false); err != nil {
		t.Fatalf("changed password refused over chap1: %v", err)
	}
	if err := cli.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if err := cli.Add("bob", "viewer", "hunter2", MinIterations); err != nil {
		t.Fatal(err)
	}
	if u, err := s.CheckPassword("bob", "c", "hunter2", home, true); err != nil || u.Role != "viewer" {
		t.Fatalf("bob after a role change: %+v, %v; want role viewer", u, err)
	}
}

// Password checks wait for a turn, a bounded number of them, for a bounded
// time; refused ones count against no one.
func TestCheckQueueBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newService(t, Config{MaxConcurrentChecks: 1, MaxQueuedChecks: 2, CheckQueueTimeout: 5 * time.Second, MaxFailures: 1, PlainCacheTTL: -1})
		s.checks.slots <- struct{}{} // a long check holds the only turn
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for range 3 {
			wg.Go(func() {
				_, err := s.CheckPassword("alice", "c", "wrong", home, true)
				errs <- err
			})
		}
		synctest.Wait()
		if n := s.checks.waiting.Load(); n != 2 {
			t.Errorf("%d checks waiting, want the bound 2", n)
		}
		if err := <-errs; !errors.Is(err, ErrBusy) {
			t.Errorf("third check: %v, want ErrBusy at once", err)
		}
		time.Sleep(5 * time.Second) // synctest: fake time; the queued checks time out
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrBusy) {
				t.Errorf("queued check after the deadline: %v, want ErrBusy", err)
			}
		}
		if s.blocked(home, "alice") != nil {
			t.Error("refused checks counted as failures")
		}
		<-s.checks.slots
		if _, err := s.CheckPassword("alice", "c", "s3cret", home, true); err != nil {
			t.Errorf("with a free turn: %v", err)
		}
	})
}

// A CONNECT may carry a user name of 64 KiB: the blocked list keeps at
// most 64 bytes of it, and still counts it.
func TestLongUserNamesBounded(t *testing.T) {
	s := newService(t, Config{MaxFailures: 2})
	long := strings.Repeat("x", 65535)
	for range 2 {
		s.CheckPassword(long, "c", "guess", home, true)
	}
	for k := range s.guard.pairs {
		if len(k.user) > maxKeyLen {
			t.Errorf("key of %d bytes kept", len(k.user))
		}
	}
	var be *BlockedError
	if _, err := s.CheckPassword(long, "c", "guess", home, true); !errors.As(err, &be) {
		t.Errorf("long name after 2 failures: %v, want blocked", err)
	}
}

// The unused nonces of one IPv6 /64 share one bound.
func TestNoncesPerSlash64Bounded(t *testing.T) {
	s := newService(t, Config{NoncesPerAddress: 4})
	for i := range 10 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		if _, err := s.Challenge("alice", a); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.nonces); n != 4 {
		t.Errorf("%d nonces held for one /64, want 4", n)
	}
}
