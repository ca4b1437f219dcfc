package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// ErrNotAuthorized is the error of every failed login. The wrapped reason is
// for the log, never for the client.
var ErrNotAuthorized = errors.New("not authorized")

// BlockedError is returned while logins of a user name from a source
// address, or from the whole address, are refused. Its message is meant
// for the client: it names no other user.
type BlockedError struct {
	RetryAfter time.Duration
	// Address is true when the whole address is blocked (failures for
	// many user names), false when only this user name from it is.
	Address bool
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s; retry in %s", e.Reason(), e.RetryAfter.Round(time.Second))
}

// Reason says what is blocked and why, without the time.
func (e *BlockedError) Reason() string {
	if e.Address {
		return "too many failed logins with different user names from your address"
	}
	return "too many failed logins for this user from your address"
}

// Challenge is the answer of the challenge endpoint (spec section 1).
type Challenge struct {
	Method     string `json:"method"`
	Nonce      string `json:"nonce"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations"`
	ExpiresIn  int    `json:"expires_in"`
}

type nonceEntry struct {
	user    string
	addr    netip.Addr
	expires time.Time
}

// Service is the login state shared by the broker and the HTTP endpoint.
// Its methods are safe for concurrent use. It starts no goroutines: expired
// nonces and stale failure records are swept as it is used.
type Service struct {
	cfg    Config
	users  *Users
	secret []byte
	log    *slog.Logger
	m      *metrics

	mu      sync.Mutex
	nonces  map[string]nonceEntry
	byAddr  map[netip.Prefix][]string // unused nonces per source (see Source), oldest first
	guard   *guard
	checks  *checkQueue
	lastGC  time.Time
	cacheMu sync.Mutex
	cache   map[string]cacheEntry // plain-password checks that succeeded
	cacheK  []byte                // key for hashing cached passwords
}

type cacheEntry struct {
	mac       [32]byte
	storedKey string
	expires   time.Time
}

// maxNonces bounds the nonce table whatever the number of addresses.
const maxNonces = 100_000

// New returns a Service over users. secret (at least 16 bytes) derives the
// fake salts answered for unknown user names; keep it stable across
// restarts so the fake salts do too.
func New(cfg Config, users *Users, secret []byte, log *slog.Logger) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if users == nil {
		return nil, errors.New("login: no users")
	}
	if len(secret) < 16 {
		return nil, errors.New("login: secret must be at least 16 bytes")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ck := make([]byte, 32)
	if _, err := rand.Read(ck); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return &Service{
		cfg: cfg, users: users, secret: append([]byte(nil), secret...),
		log:    log.With("component", "login"),
		m:      newMetrics(),
		nonces: map[string]nonceEntry{}, byAddr: map[netip.Prefix][]string{},
		guard: newGuard(cfg), checks: newCheckQueue(cfg),
		cache: map[string]cacheEntry{}, cacheK: ck,
	}, nil
}

// Users is the users file the service checks against.
func (s *Service) Users() *Users { return s.users }

// Config is the service's settings with defaults applied.
func (s *Service) Config() Config { return s.cfg }

// Challenge issues a fresh single-use nonce for username, bound to addr. For
// an unknown user it answers the same shape with a fake, stable salt; such a
// nonce never verifies.
func (s *Service) Challenge(username string, addr netip.Addr) (Challenge, error) {
	addr = addr.Unmap()
	if err := s.blocked(addr, username); err != nil {
		return Challenge{}, err
	}
	salt, iter := s.saltFor(username)
	nonce, err := newNonce()
	if err != nil {
		return Challenge{}, err
	}
	now := time.Now()
	s.mu.Lock()
	s.gcLocked(now)
	src := Source(addr)
	list := s.byAddr[src]
	for len(list) >= s.cfg.NoncesPerAddress {
		delete(s.nonces, list[0])
		list = list[1:]
	}
	if len(s.nonces) >= maxNonces {
		s.evictOldestLocked()
	}
	s.nonces[nonce] = nonceEntry{user: username, addr: addr, expires: now.Add(s.cfg.ChallengeTTL)}
	s.byAddr[src] = append(list, nonce)
	s.mu.Unlock()
	s.m.challenges.Inc()
	return Challenge{Method: Method, Nonce: nonce, Salt: b64.EncodeToString(salt), Iterations: iter, ExpiresIn: int(s.cfg.ChallengeTTL / time.Second)}, nil
}

func (s *Service) saltFor(username string) ([]byte, int) {
	if u, ok := s.users.lookupFresh(username); ok {
		return u.Verifier.Salt, u.Verifier.Iterations
	}
	return hmacSum(s.secret, []byte("fake-salt:"+username))[:saltLen], s.cfg.Iterations
}

// takeNonce removes nonce from the table and returns what it was issued for.
func (s *Service) takeNonce(nonce string) (nonceEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(nonce)
}

func (s *Service) removeLocked(nonce string) (nonceEntry, bool) {
	e, ok := s.nonces[nonce]
	if !ok {
		return e, false
	}
	delete(s.nonces, nonce)
	src := Source(e.addr)
	list := s.byAddr[src]
	for i, n := range list {
		if n == nonce {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byAddr, src)
	} else {
		s.byAddr[src] = list
	}
	return e, true
}

// gcLocked drops expired nonces, at most once a second.
func (s *Service) gcLocked(now time.Time) {
	if now.Sub(s.lastGC) < time.Second {
		return
	}
	s.lastGC = now
	for addr, list := range s.byAddr {
		keep := list[:0]
		for _, n := range list {
			if e, ok := s.nonces[n]; ok && now.Before(e.expires) {
				keep = append(keep, n)
			} else {
				delete(s.nonces, n)
			}
		}
		if len(keep) == 0 {
			delete(s.byAddr, addr)
		} else {
			s.byAddr[addr] = keep
		}
	}
}

func (s *Service) evictOldestLocked() {
	var oldest string
	var at time.Time
	for n, e := range s.nonces {
		if oldest == "" || e.expires.Before(at) {
			oldest, at = n, e.expires
		}
	}
	s.removeLocked(oldest)
}

// CheckPassword checks a CONNECT password from addr. A password of the form
// "chap1:<nonce>:<proof>" is verified as spec section 3 says; any other is a
// plain password, accepted only when allowPlain. While addr is blocked it
// returns a *BlockedError without any verification work.
func (s *Service) CheckPassword(username, clientID, password string, addr netip.Addr, allowPlain bool) (User, error) {
	addr = addr.Unmap()
	if err := s.blocked(addr, username); err != nil {
		return User{}, err
	}
	if IsChap1Password(password) {
		nonce, proof, err := ParsePassword(password)
		if err != nil {
			return User{}, s.fail(addr, username, "malformed chap1 password: "+err.Error())
		}
		return s.verify(username, clientID, nonce, proof, addr)
	}
	if !allowPlain {
		return User{}, s.fail(addr, username, "plain password not accepted on this listener")
	}
	return s.checkPlain(username, password, addr)
}

// VerifyProof checks the answer of the in-band form (spec section 5).
func (s *Service) VerifyProof(username, clientID, nonce string, proof []byte, addr netip.Addr) (User, error) {
	addr = addr.Unmap()
	if err := s.blocked(addr, username); err != nil {
		return User{}, err
	}
	return s.verify(username, clientID, nonce, proof, addr)
}

func (s *Service) verify(username, clientID, nonce string, proof []byte, addr netip.Addr) (User, error) {
	e, ok := s.takeNonce(nonce)
	switch {
	case !ok:
		return User{}, s.fail(addr, username, "unknown or already used nonce")
	case !time.Now().Before(e.expires):
		return User{}, s.fail(addr, username, "expired nonce")
	case e.user != username:
		return User{}, s.fail(addr, username, "nonce issued for another user")
	case e.addr != addr:
		return User{}, s.fail(addr, username, "nonce issued to another address")
	case clientID == "":
		return User{}, s.fail(addr, username, "empty client id")
	}
	u, ok := s.users.lookupFresh(username)
	if !ok {
		return User{}, s.fail(addr, username, "unknown user")
	}
	if !checkProof(u.Verifier.StoredKey, proof, nonce, username, clientID) {
		return User{}, s.fail(addr, username, "wrong proof")
	}
	s.succeed(addr, username, "chap1")
	return u, nil
}

func (s *Service) checkPlain(username, password string, addr netip.Addr) (User, error) {
	u, ok := s.users.lookupFresh(username)
	if !ok {
		// Spend the same work as for a real user so timing does not tell.
		err := s.checks.do(func() { ComputeVerifier(password, s.secret[:saltLen], s.cfg.Iterations) })
		if err != nil {
			return User{}, s.busy(addr, username)
		}
		return User{}, s.fail(addr, username, "unknown user")
	}
	mac := s.cacheMAC(username, password)
	sk := string(u.Verifier.StoredKey)
	if s.cfg.PlainCacheTTL > 0 {
		s.cacheMu.Lock()
		c, hit := s.cache[username]
		s.cacheMu.Unlock()
		if hit && c.storedKey == sk && time.Now().Before(c.expires) && subtle.ConstantTimeCompare(c.mac[:], mac[:]) == 1 {
			s.succeed(addr, username, "plain")
			return u, nil
		}
	}
	var v Verifier
	if err := s.checks.do(func() { v = ComputeVerifier(password, u.Verifier.Salt, u.Verifier.Iterations) }); err != nil {
		return User{}, s.busy(addr, username)
	}
	if subtle.ConstantTimeCompare(v.StoredKey, u.Verifier.StoredKey) != 1 {
		return User{}, s.fail(addr, username, "wrong password")
	}
	if s.cfg.PlainCacheTTL > 0 {
		s.cacheMu.Lock()
		if len(s.cache) > 10_000 {
			clear(s.cache)
		}
		s.cache[username] = cacheEntry{mac: mac, storedKey: sk, expires: time.Now().Add(s.cfg.PlainCacheTTL)}
		s.cacheMu.Unlock()
	}
	s.succeed(addr, username, "plain")
	return u, nil
}

func (s *Service) cacheMAC(username, password string) [32]byte {
	m := hmac.New(sha256.New, s.cacheK)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// fail counts a failed login from addr, logs it and returns the error.
func (s *Service) fail(addr netip.Addr, username, reason string) error {
	s.m.failures.WithLabelValues(reasonLabel(reason)).Inc()
	src := Source(addr)
	pair, whole := s.guard.failure(src, username, time.Now())
	s.log.Warn("login failed", "user", username, "addr", addr, "reason", reason)
	if pair > 0 {
		s.m.userBlocks.Inc()
		s.log.Warn("user blocked from address", "user", username, "source", src, "for", pair)
	}
	if whole > 0 {
		s.m.blocks.Inc()
		s.log.Warn("address blocked: failed logins with many user names", "source", src, "for", whole)
	}
	return fmt.Errorf("%w: %s", ErrNotAuthorized, reason)
}

// busy logs a check refused for want of a turn; it counts nothing.
func (s *Service) busy(addr netip.Addr, username string) error {
	s.log.Warn("login refused: password checks busy", "user", username, "addr", addr)
	return ErrBusy
}

func (s *Service) succeed(addr netip.Addr, username, method string) {
	s.m.logins.WithLabelValues(method).Inc()
	s.guard.success(Source(addr), username)
}

// blocked returns a *BlockedError if logins of username from addr are
// refused now.
func (s *Service) blocked(addr netip.Addr, username string) error {
	if d, whole, ok := s.guard.blocked(Source(addr), username, time.Now()); ok {
		return &BlockedError{RetryAfter: d, Address: whole}
	}
	return nil
}

// Fail counts a failure that was found outside the service (a timed-out
// or out-of-order in-band exchange, say) against addr.
func (s *Service) Fail(addr netip.Addr, username, reason string) error {
	return s.fail(addr.Unmap(), username, reason)
}

// Blocked reports whether the whole source address of addr is blocked
// (see Source), and for how long still. Logins of one user name may be
// blocked from an address that is not: CheckPassword, VerifyProof and
// Challenge check that.
func (s *Service) Blocked(addr netip.Addr) (time.Duration, bool) {
	d, _, ok := s.guard.blocked(Source(addr), "", time.Now())
	return d, ok
}
