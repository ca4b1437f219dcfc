package login

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Config holds the login settings. The zero value of a field means its
// default (DefaultConfig).
type Config struct {
	// Iterations is the PBKDF2 iteration count for new passwords.
	Iterations int `yaml:"iterations"`
	// ChallengeTTL is how long a nonce stays valid.
	ChallengeTTL time.Duration `yaml:"challenge_ttl"`
	// NoncesPerAddress bounds the unused nonces one address may hold.
	NoncesPerAddress int `yaml:"nonces_per_address"`
	// MaxFailures failed logins of one user name from one address (an IPv6
	// /64 counts as one) within FailureWindow block that name from that
	// address.
	MaxFailures   int           `yaml:"max_failures"`
	FailureWindow time.Duration `yaml:"failure_window"`
	// MaxFailedUsers different user names failing from one address within
	// FailureWindow block the whole address (it is trying names).
	MaxFailedUsers int `yaml:"max_failed_users"`
	// Block is the first block's length; each further block of the same
	// user name and address, or of the same address, doubles it, up to
	// BlockMax.
	Block    time.Duration `yaml:"block"`
	BlockMax time.Duration `yaml:"block_max"`
	// PlainCacheTTL is how long a successful plain-password check is
	// remembered, so a reconnecting device does not cost a PBKDF2 run each
	// time. Negative disables the cache.
	PlainCacheTTL time.Duration `yaml:"plain_cache_ttl"`
	// MaxConcurrentChecks bounds the PBKDF2 runs (plain-password checks)
	// at a time, so that wrong passwords slow logins down, not the broker
	// (default: half the CPUs, at least 1).
	MaxConcurrentChecks int `yaml:"max_concurrent_checks"`
	// MaxQueuedChecks bounds the checks waiting for a turn (default 64);
	// CheckQueueTimeout is how long one may wait (default 5s). A check
	// refused by either counts nothing against the user or the address.
	MaxQueuedChecks   int           `yaml:"max_queued_checks"`
	CheckQueueTimeout time.Duration `yaml:"check_queue_timeout"`
}

// DefaultConfig returns the spec's defaults.
func DefaultConfig() Config {
	return Config{
		Iterations:       DefaultIterations,
		ChallengeTTL:     30 * time.Second,
		NoncesPerAddress: 16,
		MaxFailures:      5,
		FailureWindow:    5 * time.Minute,
		MaxFailedUsers:   8,
		Block:            time.Minute,
		BlockMax:         time.Hour,
		PlainCacheTTL:    5 * time.Minute,

		MaxConcurrentChecks: max(1, runtime.NumCPU()/2),
		MaxQueuedChecks:     64,
		CheckQueueTimeout:   5 * time.Second,
	}
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Iterations == 0 {
		c.Iterations = d.Iterations
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = d.ChallengeTTL
	}
	if c.NoncesPerAddress == 0 {
		c.NoncesPerAddress = d.NoncesPerAddress
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = d.MaxFailures
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = d.FailureWindow
	}
	if c.MaxFailedUsers == 0 {
		c.MaxFailedUsers = d.MaxFailedUsers
	}
	if c.MaxConcurrentChecks == 0 {
		c.MaxConcurrentChecks = d.MaxConcurrentChecks
	}
	if c.MaxQueuedChecks == 0 {
		c.MaxQueuedChecks = d.MaxQueuedChecks
	}
	if c.CheckQueueTimeout == 0 {
		c.CheckQueueTimeout = d.CheckQueueTimeout
	}
	if c.Block == 0 {
		c.Block = d.Block
	}
	if c.BlockMax == 0 {
		c.BlockMax = d.BlockMax
	}
	if c.PlainCacheTTL == 0 {
		c.PlainCacheTTL = d.PlainCacheTTL
	}
	return c
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Iterations != 0 && (c.Iterations < MinIterations || c.Iterations > 10_000_000) {
		errs = append(errs, fmt.Errorf("iterations: %d is out of range; use %d to 10000000 (default %d)", c.Iterations, MinIterations, DefaultIterations))
	}
	if c.ChallengeTTL < 0 || c.ChallengeTTL > 10*time.Minute {
		errs = append(errs, fmt.Errorf("challenge_ttl: %s is out of range; use 1s to 10m (default 30s)", c.ChallengeTTL))
	}
	if c.NoncesPerAddress < 0 || c.NoncesPerAddress > 1024 {
		errs = append(errs, fmt.Errorf("nonces_per_address: %d is out of range; use 1 to 1024 (default 16)", c.NoncesPerAddress))
	}
	if c.MaxFailures < 0 {
		errs = append(errs, fmt.Errorf("max_failures: %d is negative; use 1 or more (default 5)", c.MaxFailures))
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_failed_users", c.MaxFailedUsers}, {"max_concurrent_checks", c.MaxConcurrentChecks}, {"max_queued_checks", c.MaxQueuedChecks}} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative; use 1 or more", n.key, n.v))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"failure_window", c.FailureWindow}, {"block", c.Block}, {"block_max", c.BlockMax}, {"check_queue_timeout", c.CheckQueueTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %s is negative; use a positive duration such as 1m", d.key, d.v))
		}
	}
	if c.Block > 0 && c.BlockMax > 0 && c.BlockMax < c.Block {
		errs = append(errs, fmt.Errorf("block_max: %s is shorter than block %s; make it at least as long", c.BlockMax, c.Block))
	}
	return errors.Join(errs...)
}
