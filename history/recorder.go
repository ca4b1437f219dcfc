package history

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"mqttgate/topics"
)

// Recorder keeps the history of numeric readings. New starts nothing and
// opens no file; Run opens the history file, writes once per
// FlushInterval and writes what is pending when ctx ends. Record and
// Query are safe for concurrent use and work before Run (from memory).
type Recorder struct {
	cfg  Config
	log  *slog.Logger
	path string
	now  func() time.Time

	filters atomic.Pointer[[]string] // topics recorded by Take (Watch)

	mu     sync.Mutex
	series map[string]*series
	full   bool // MaxSeries reached and logged

	storeMu sync.RWMutex
	store   *store

	flushes atomic.Int64
	noSync  bool // tests and benchmarks: no fsync
}

// New checks cfg and returns a recorder whose file is FileName in dataDir.
func New(cfg Config, log *slog.Logger, dataDir string) (*Recorder, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		cfg:    cfg,
		log:    log,
		path:   filepath.Join(dataDir, FileName),
		now:    time.Now,
		series: make(map[string]*series),
	}, nil
}

// Watch sets the topic filters whose messages Take records (the gateway's
// own sensors and Config.Topics), replacing the earlier ones. It is safe
// to call while Take runs: a reload changes them for the messages that
// follow.
func (r *Recorder) Watch(filters ...string) {
	fs := append([]string(nil), filters...)
	r.filters.Store(&fs)
}

// Take records a message if its topic matches one of the watched filters,
// once however many match. It is meant to see every message the broker
// takes, so it returns at once for the others.
func (r *Recorder) Take(topic string, payload []byte) {
	fs := r.filters.Load()
	if fs == nil {
		return
	}
	for _, f := range *fs {
		if topics.Match(f, topic) {
			r.Record(topic, payload)
			return
		}
	}
}

// Record takes the numeric values of one message on topic (see Fields).
// It does not block on the disk.
func (r *Recorder) Record(topic string, payload []byte) {
	var t int64 // read the clock only for a payload with numbers
	Fields(payload, func(field string, v float64) {
		if t == 0 {
			t = r.now().UnixMilli()
		}
		r.add(seriesKey(topic, field), t, v)
	})
}

// maxKey bounds a series' name (topic and field) in bytes.
const maxKey = 1024

func (r *Recorder) add(key string, t int64, v float64) {
	if len(key) > maxKey {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[key]
	if s == nil {
		if len(r.series) >= r.cfg.MaxSeries {
			if !r.full {
				r.full = true
				r.log.Warn("history: series limit reached; new series are not recorded", "max_series", r.cfg.MaxSeries)
			}
			return
		}
		s = &series{}
		r.series[key] = s
	}
	s.add(t, v)
}

// Run opens the history file and writes to it once per FlushInterval
// until ctx ends, then writes what is pending and closes it.
func (r *Recorder) Run(ctx context.Context) error {
	st, err := openStore(r.path, r.log, r.noSync)
	if err != nil {
		return err
	}
	st.setLimit(int64(r.cfg.MaxSize))
	r.storeMu.Lock()
	r.store = st
	r.storeMu.Unlock()
	defer func() {
		r.storeMu.Lock()
		r.store = nil
		r.storeMu.Unlock()
		st.close()
	}()
	tick := time.NewTicker(time.Duration(r.cfg.FlushInterval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.Flush(); err != nil {
				r.log.Error("history: final write", "err", err)
			}
			return nil
		case <-tick.C:
			if err := r.Flush(); err != nil {
				r.log.Error("history: write", "err", err)
			}
		}
	}
}

// Flush writes the intervals that have closed, in one transaction, and
// drops what is past retention or over MaxSize. What cannot be written
// stays in memory for the next try (up to a day per series).
func (r *Recorder) Flush() error {
	r.storeMu.RLock()
	defer r.storeMu.RUnlock()
	if r.store == nil {
		return nil
	}
	now := r.now().UnixMilli()
	type work struct {
		key     string
		p1, p15 []slot
		s       *series
	}
	var todo []work
	r.mu.Lock()
	for key, s := range r.series {
		s.close(now)
		if len(s.pending1)+len(s.pending15) > 0 {
			todo = append(todo, work{key, s.pending1, s.pending15, s})
			s.pending1, s.pending15 = nil, nil
		}
	}
	r.mu.Unlock()
	st := r.store
	blocks := st.blocks
	err := st.db.Update(func(tx *bolt.Tx) error {
		for _, w := range todo {
			if err := st.write(tx, w.key, minute, w.p1); err != nil {
				return err
			}
			if err := st.write(tx, w.key, quarter, w.p15); err != nil {
				return err
			}
		}
		return st.prune(tx, now, int64(time.Duration(r.cfg.Retention)/time.Millisecond), st.budget(int64(r.cfg.MaxSize)))
	})
	r.flushes.Add(1)
	if err == nil {
		st.measure(int64(r.cfg.MaxSize))
	}
	if err != nil {
		st.blocks = blocks
		r.mu.Lock()
		for _, w := range todo { // put back, oldest first
			w.s.pending1 = append(w.p1, w.s.pending1...)
			w.s.pending15 = append(w.p15, w.s.pending15...)
			if n := len(w.s.pending1); n > pendingMax {
				w.s.pending1 = w.s.pending1[n-pendingMax:]
			}
			if n := len(w.s.pending15); n > pendingMax {
				w.s.pending15 = w.s.pending15[n-pendingMax:]
			}
		}
		r.mu.Unlock()
		return fmt.Errorf("history: write %s: %w", r.path, err)
	}
	return nil
}

// Series lists the recorded series, in memory and in the file, sorted by
// topic and field.
func (r *Recorder) Series() []Series {
	keys := make(map[string]bool)
	r.mu.Lock()
	for key := range r.series {
		keys[key] = true
	}
	r.mu.Unlock()
	r.storeMu.RLock()
	if r.store != nil {
		_ = r.store.db.View(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMinute, bucketQuarter} {
				_ = tx.Bucket(name).ForEachBucket(func(k []byte) error {
					keys[string(k)] = true
					return nil
				})
			}
			return nil
		})
	}
	r.storeMu.RUnlock()
	out := make([]Series, 0, len(keys))
	for key := range keys {
		out = append(out, splitKey(key))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// Series names one recorded quantity.
type Series struct {
	Topic string `json:"topic"`
	Field string `json:"field"`
}

func seriesKey(topic, field string) string { return topic + "\x00" + field }

func splitKey(key string) Series {
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			return Series{Topic: key[:i], Field: key[i+1:]}
		}
	}
	return Series{Topic: key}
}
