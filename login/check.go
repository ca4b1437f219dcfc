package login

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrBusy is returned when a password check could not get a turn: too many
// were waiting, or the wait passed Config.CheckQueueTimeout. It counts
// nothing against the user or the address; the client may try again.
var ErrBusy = errors.New("login: busy: too many password checks waiting; try again")

// checkQueue bounds the PBKDF2 runs at a time, so that a flood of wrong
// passwords queues logins instead of taking the CPUs from the broker. Safe
// for concurrent use.
type checkQueue struct {
	slots     chan struct{}
	maxQueued int64
	timeout   time.Duration

	waiting atomic.Int64 // checks waiting for a slot now
	busy    atomic.Int64 // checks refused with ErrBusy so far
}

func newCheckQueue(cfg Config) *checkQueue {
	return &checkQueue{
		slots:     make(chan struct{}, cfg.MaxConcurrentChecks),
		maxQueued: int64(cfg.MaxQueuedChecks),
		timeout:   cfg.CheckQueueTimeout,
	}
}

// do runs f when a slot is free, or returns ErrBusy.
func (q *checkQueue) do(f func()) error {
	select {
	case q.slots <- struct{}{}:
	default:
		if q.waiting.Add(1) > q.maxQueued {
			q.waiting.Add(-1)
			q.busy.Add(1)
			return ErrBusy
		}
		t := time.NewTimer(q.timeout)
		select {
		case q.slots <- struct{}{}:
			t.Stop()
			q.waiting.Add(-1)
		case <-t.C:
			q.waiting.Add(-1)
			q.busy.Add(1)
			return ErrBusy
		}
	}
	defer func() { <-q.slots }()
	f()
	return nil
}
