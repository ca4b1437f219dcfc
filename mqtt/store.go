package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Buckets of the store file.
var (
	bucketClients  = []byte("clients")  // client id -> storedClient JSON
	bucketSubs     = []byte("subs")     // client id NUL filter -> storage.Subscription JSON
	bucketInflight = []byte("inflight") // client id NUL packet id -> storage.Message JSON
	bucketRetained = []byte("retained") // topic -> storage.Message JSON
	allBuckets     = [][]byte{bucketClients, bucketSubs, bucketInflight, bucketRetained}
)

// change is one pending write; a nil value deletes the key.
type change struct {
	bucket []byte
	key    string
	value  []byte
}

// store is a mochi storage hook on bbolt. With interval 0 every change is
// committed (fsynced) before the call that made it returns; the changes of
// concurrent callers are committed together (group commit: one committer
// goroutine takes everything pending whenever it is idle, so a lone
// change waits for nothing but its own fsync). Otherwise changes are
// gathered in memory and committed together once per interval (and at
// Stop). Only persistent sessions are stored: a clean session ends with
// its connection, so its subscriptions and in-flight messages cost no
// write.
type store struct {
	mochi.HookBase
	db       *bbolt.DB
	interval time.Duration
	path     string
	log      *slog.Logger
	sessions *accessTable // who each stored session logged in as (nil: not kept)
	// packetIDs has the client's identifiers of QoS 2 exchanges kept
	// under an alias (nil: not kept).
	packetIDs *clientPacketIDs

	mu      sync.Mutex
	pending map[string]change // bucket NUL key -> change
	synced  chan struct{}     // closed when pending is committed (interval 0)
	closed  bool              // until open, and after Stop: changes are ignored
	kick    chan struct{}     // wakes the committer (interval 0)
	stop    chan struct{}
	done    chan struct{}

	commits atomic.Int64
	errs    atomic.Int64
}

var _ mochi.Hook = (*store)(nil)

// newStore prepares the store of the file path; open opens it.
func newStore(path string, interval time.Duration, sessions *accessTable, log *slog.Logger) *store {
	return &store{path: path, interval: interval, sessions: sessions, log: log, pending: map[string]change{},
		closed: true, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// openStore opens the store of the file path, without session records'
// users and roles.
func openStore(path string, interval time.Duration, log *slog.Logger) (*store, error) {
	s := newStore(path, interval, nil, log)
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open opens (creating) the file and starts committing; call it once.
func (s *store) open() error {
	path := s.path
	// NoFreelistSync: the free list is rebuilt at open instead of being
	// written at every commit (one page write less per message).
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("mqtt: open store %s: file is locked (is another mqttgate running on this data dir?)", path)
		}
		return fmt.Errorf("mqtt: open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("mqtt: init store %s: %w", path, err)
	}
	s.mu.Lock()
	s.db, s.closed = db, false
	s.mu.Unlock()
	if s.interval > 0 {
		go s.flushLoop()
	} else {
		go s.commitLoop()
	}
	return nil
}

func (s *store) ID() string { return "mqttgate-store" }

// Provides is asked by mochi at every hook call (a switch: no allocation).
func (s *store) Provides(b byte) bool {
	switch b {
	case mochi.OnSessionEstablished, mochi.OnDisconnect, mochi.OnSubscribed, mochi.OnUnsubscribed,
		mochi.OnRetainMessage, mochi.OnWillSent, mochi.OnQosPublish, mochi.OnQosComplete,
		mochi.OnQosDropped, mochi.OnClientExpired, mochi.OnRetainedExpired,
		mochi.StoredClients, mochi.StoredInflightMessages, mochi.StoredRetainedMessages,
		mochi.StoredSubscriptions:
		return true
	}
	return false
}

func (s *store) Init(any) error { return nil }

// Stop commits what is pending and closes the file.
func (s *store) Stop() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	err := s.flush(true)
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *store) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.flush(false); err != nil {
				s.log.Error("store commit failed", "err", err)
			}
		}
	}
}

// commitLoop is the group committer of interval 0.
func (s *store) commitLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		if err := s.flush(false); err != nil {
			s.log.Error("store commit failed", "err", err)
		}
	}
}

// flush commits the pending changes in one transaction and releases the
// callers waiting for them; final marks the store closed in the same step,
// so that no later change waits for a commit that never comes.
func (s *store) flush(final bool) error {
	s.mu.Lock()
	batch, synced := s.pending, s.synced
	s.pending, s.synced = map[string]change{}, nil
	if final {
		s.closed = true
	}
	s.mu.Unlock()
	if synced != nil {
		defer close(synced)
	}
	if len(batch) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, c := range batch {
			if err := apply(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	s.commits.Add(1)
	if err != nil {
		s.errs.Add(1)
		return fmt.Errorf("mqtt: store commit: %w", err)
	}
	return nil
}

func apply(tx *bbolt.Tx, c change) error {
	b := tx.Bucket(c.bucket)
	if c.value == nil {
		return b.Delete([]byte(c.key))
	}
	return b.Put([]byte(c.key), c.value)
}

// write records one change. With interval 0 it returns once the change is
// committed, if wait is set (otherwise it goes with the next commit);
// with an interval, at once (the change goes with the next flush).
func (s *store) write(c change, wait bool) { s.writeAll([]change{c}, wait) }

// writeAll records cs so that they share one commit.
func (s *store) writeAll(cs []change, wait bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	for _, c := range cs {
		s.pending[string(c.bucket)+"\x00"+c.key] = c
	}
	if s.interval > 0 {
		s.mu.Unlock()
		return
	}
	if s.synced == nil {
		s.synced = make(chan struct{})
	}
	synced := s.synced
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if wait {
		<-synced
	}
}

func (s *store) put(bucket []byte, key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.errs.Add(1)
		s.log.Error("store encode failed", "bucket", string(bucket), "err", err)
		return
	}
	s.write(change{bucket: bucket, key: key, value: data}, true)
}

func (s *store) del(bucket []byte, key string) {
	s.write(change{bucket: bucket, key: key}, true)
}

// pendingLen returns the number of changes waiting for a commit.
func (s *store) pendingLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// each calls fn for every value in bucket.
func (s *store) each(bucket []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(fn)
	})
}

func (s *store) has(bucket []byte, key string) bool {
	found := false
	_ = s.db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucket).Get([]byte(key)) != nil
		return nil
	})
	return found
}
