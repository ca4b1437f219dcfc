package login

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"mqttgate/field"
)

// Config holds the login settings. The zero value of a field means its
// default (WithDefaults).
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

// DefaultConfig returns the spec's defaults: WithDefaults of the zero
// Config.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with zero fields set to their defaults. It is the
// one place the login defaults are written; the gateway's config applies
// it once after decoding, and New applies it to what it is given.
func (c Config) WithDefaults() Config {
	if c.Iterations == 0 {
		c.Iterations = DefaultIterations
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = 30 * time.Second
	}
	if c.NoncesPerAddress == 0 {
		c.NoncesPerAddress = 16
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = 5 * time.Minute
	}
	if c.MaxFailedUsers == 0 {
		c.MaxFailedUsers = 8
	}
	if c.MaxConcurrentChecks == 0 {
		c.MaxConcurrentChecks = max(1, runtime.NumCPU()/2)
	}
	if c.MaxQueuedChecks == 0 {
		c.MaxQueuedChecks = 64
	}
	if c.CheckQueueTimeout == 0 {
		c.CheckQueueTimeout = 5 * time.Second
	}
	if c.Block == 0 {
		c.Block = time.Minute
	}
	if c.BlockMax == 0 {
		c.BlockMax = max(time.Hour, c.Block)
	}
	if c.PlainCacheTTL == 0 {
		c.PlainCacheTTL = 5 * time.Minute
	}
	return c
}

// Validate reports settings that cannot work, as errors.Join of
// *field.Error whose paths are the keys of the auth section.
func (c Config) Validate() error {
	var errs []error
	if c.Iterations != 0 && (c.Iterations < MinIterations || c.Iterations > 10_000_000) {
		errs = append(errs, field.Invalid("iterations", c.Iterations, fmt.Sprintf("is out of range; use %d to 10000000 (default %d)", MinIterations, DefaultIterations)))
	}
	if c.ChallengeTTL < 0 || c.ChallengeTTL > 10*time.Minute {
		errs = append(errs, field.Invalid("challenge_ttl", c.ChallengeTTL, "is out of range; use 1s to 10m (default 30s)"))
	}
	if c.NoncesPerAddress < 0 || c.NoncesPerAddress > 1024 {
		errs = append(errs, field.Invalid("nonces_per_address", c.NoncesPerAddress, "is out of range; use 1 to 1024 (default 16)"))
	}
	if c.MaxFailures < 0 {
		errs = append(errs, field.Invalid("max_failures", c.MaxFailures, "is negative; use 1 or more (default 5)"))
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_failed_users", c.MaxFailedUsers}, {"max_concurrent_checks", c.MaxConcurrentChecks}, {"max_queued_checks", c.MaxQueuedChecks}} {
		if n.v < 0 {
			errs = append(errs, field.Invalid(n.key, n.v, "is negative; use 1 or more"))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"failure_window", c.FailureWindow}, {"block", c.Block}, {"block_max", c.BlockMax}, {"check_queue_timeout", c.CheckQueueTimeout}} {
		if d.v < 0 {
			errs = append(errs, field.Invalid(d.key, d.v, "is negative; use a positive duration such as 1m"))
		}
	}
	if c.Block > 0 && c.BlockMax > 0 && c.BlockMax < c.Block {
		errs = append(errs, field.Invalid("block_max", c.BlockMax, fmt.Sprintf("is shorter than block %s; make it at least as long", c.Block)))
	}
	return errors.Join(errs...)
}
