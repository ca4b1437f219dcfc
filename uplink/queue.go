package uplink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// queueBucket holds the records, keyed by an 8-byte big-endian sequence
// number, so bbolt's key order is the queue order.
var queueBucket = []byte("queue")

// errQueueClosed is returned by put and remove after close.
var errQueueClosed = errors.New("uplink: queue closed")

// queueMaxBatch bounds how many operations share one transaction.
const queueMaxBatch = 1024

// queue is a disk-backed FIFO of records in a bbolt file. put returns only
// after the record is fsynced; concurrent puts share one transaction and
// one fsync (group commit), done by a single committer goroutine. It is
// bounded by bytes and by age: the oldest records are dropped to make
// room, and counted. Safe for concurrent use; close stops the committer
// and closes the file, after which put and remove fail.
type queue struct {
	db       *bolt.DB
	log      *slog.Logger
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	reqs     chan *queueOp
	quit     chan struct{}
	stopped  chan struct{}
	closeErr error
	once     sync.Once
	notify   chan struct{} // capacity 1; signalled after records are added

	depth   atomic.Int64
	bytes   atomic.Int64
	oldest  atomic.Int64 // Unix nanoseconds of the oldest record, 0 if empty
	dropped atomic.Int64 // records dropped by the byte or age limit
}

type queueOp struct {
	rec    *record  // put this record (Seq is filled in)
	remove []uint64 // or delete these sequence numbers
	done   chan error
}

// openQueue opens or creates the queue file at path and starts its
// committer goroutine. Records left by an earlier run (even one killed
// with SIGKILL) are kept, in order.
func openQueue(path string, maxBytes int64, maxAge time.Duration, log *slog.Logger) (*queue, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second, // another process holds the lock
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("uplink: open queue %s: %w", path, err)
	}
	q := &queue{
		db: db, log: log, maxBytes: maxBytes, maxAge: maxAge, now: time.Now,
		reqs: make(chan *queueOp), quit: make(chan struct{}), stopped: make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(queueBucket)
		if err != nil {
			return err
		}
		var n, size int64
		err = b.ForEach(func(k, v []byte) error {
			n++
			size += int64(len(k) + len(v))
			return nil
		})
		q.depth.Store(n)
		q.bytes.Store(size)
		return err
	})
	if err == nil {
		err = q.commit(nil, true)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("uplink: open queue %s: %w", path, err)
	}
	go q.run()
	return q, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// put stores r at the tail and returns its sequence number once it is on
// disk.
func (q *queue) put(r record) (uint64, error) {
	op := &queueOp{rec: &r, done: make(chan error, 1)}
	if err := q.submit(op); err != nil {
		return 0, err
	}
	return r.Seq, nil
}

// remove deletes the records with these sequence numbers (acknowledged
// upstream). Missing ones (already dropped) are ignored.
func (q *queue) remove(seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return q.submit(&queueOp{remove: seqs, done: make(chan error, 1)})
}

func (q *queue) submit(op *queueOp) error {
	select {
	case q.reqs <- op:
	case <-q.quit:
		return errQueueClosed
	}
	return <-op.done
}

// read returns up to max records with sequence numbers above after, in
// order.
func (q *queue) read(after uint64, max int) ([]record, error) {
	var out []record
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(queueBucket).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			r, err := decodeRecord(v)
			if err != nil {
				// A record we cannot read would block the queue forever.
				q.log.Error("skipping unreadable queue record", "seq", binary.BigEndian.Uint64(k), "err", err)
				continue
			}
			r.Seq = binary.BigEndian.Uint64(k)
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// close stops the committer and closes the file. Records stay on disk.
func (q *queue) close() error {
	q.once.Do(func() {
		close(q.quit)
		<-q.stopped
		q.closeErr = q.db.Close()
	})
	return q.closeErr
}

func (q *queue) run() {
	defer close(q.stopped)
	prune := time.NewTicker(q.pruneEvery())
	defer prune.Stop()
	batch := make([]*queueOp, 0, queueMaxBatch)
	for {
		select {
		case <-q.quit:
			return
		case <-prune.C:
			if err := q.commit(nil, true); err != nil {
				q.log.Error("queue: drop expired records", "err", err)
			}
			continue
		case op := <-q.reqs:
			batch = append(batch[:0], op)
		}
	collect: // everything already waiting shares this transaction
		for len(batch) < queueMaxBatch {
			select {
			case op := <-q.reqs:
				batch = append(batch, op)
			default:
				break collect
			}
		}
		err := q.commit(batch, false)
		for _, op := range batch {
			op.done <- err
		}
	}
}

func (q *queue) pruneEvery() time.Duration {
	return min(max(q.maxAge/4, time.Second), 30*time.Second)
}

// commitDelta is what one commit changes in the queue's counters.
type commitDelta struct {
	depth, bytes    int64
	drops, dropSize int64
	oldest          int64 // the oldest record's time (ns) after the commit
	added           bool
}

// commit applies ops in one transaction, then enforces the limits. The
// in-memory counters change only if the transaction commits.
func (q *queue) commit(ops []*queueOp, expire bool) error {
	var d commitDelta
	now := q.now()
	err := q.db.Update(func(tx *bolt.Tx) error {
		d = commitDelta{}
		b := tx.Bucket(queueBucket)
		if err := q.apply(b, ops, &d); err != nil {
			return err
		}
		return q.trim(b, now, expire, &d)
	})
	if err != nil {
		return err
	}
	q.depth.Add(d.depth)
	q.bytes.Add(d.bytes)
	if q.depth.Load() == 0 {
		d.oldest = 0
	}
	q.oldest.Store(d.oldest)
	if d.drops > 0 {
		q.dropped.Add(d.drops)
		q.log.Warn("queue full or expired: dropped oldest messages", "dropped", d.drops, "bytes", d.dropSize,
			"dropped_total", q.dropped.Load(), "max_bytes", q.maxBytes, "max_age", q.maxAge)
	}
	if d.added {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// apply stores the new records of ops and deletes the ones they remove.
func (q *queue) apply(b *bolt.Bucket, ops []*queueOp, d *commitDelta) error {
	for _, op := range ops {
		if op.rec != nil {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			op.rec.Seq = seq
			// bbolt keeps the value until commit: one buffer each.
			buf := encodeRecord(make([]byte, 0, 24+len(op.rec.Topic)+len(op.rec.Payload)), *op.rec)
			if err := b.Put(seqKey(seq), buf); err != nil {
				return err
			}
			d.depth++
			d.bytes += int64(8 + len(buf))
			d.added = true
		}
		for _, seq := range op.remove {
			k := seqKey(seq)
			if v := b.Get(k); v != nil {
				d.bytes -= int64(len(k) + len(v))
				d.depth--
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// trim drops the oldest records while over the byte limit or past the
// age limit, and notes the oldest one kept.
func (q *queue) trim(b *bolt.Bucket, now time.Time, expire bool, d *commitDelta) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		size := int64(len(k) + len(v))
		over := q.maxBytes > 0 && q.bytes.Load()+d.bytes > q.maxBytes
		expired := false
		if !over && q.maxAge > 0 && (expire || d.added) {
			r, err := decodeRecord(v)
			expired = err != nil || now.Sub(r.Time) > q.maxAge
		}
		if !over && !expired {
			if r, err := decodeRecord(v); err == nil {
				d.oldest = r.Time.UnixNano()
			}
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
		d.depth--
		d.bytes -= size
		d.drops++
		d.dropSize += size
	}
	return nil
}
