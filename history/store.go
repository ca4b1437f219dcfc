package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the history file in the data dir.
const FileName = "history.db"

var (
	bucketMinute  = []byte("m1")
	bucketQuarter = []byte("m15")
	bucketMeta    = []byte("meta")
	keyVersion    = []byte("version")
)

const (
	fileVersion = "1"
	slotBytes   = 16
	// slots per block: an hour of minutes, a day of quarter hours.
	slotsMinute  = 60
	slotsQuarter = 96
	// blockOverhead is what bbolt spends per stored block beyond its
	// value (key, element header, page slack), for the size bound.
	blockOverhead = 64
	// weekMS is how long 1-minute aggregates are kept.
	weekMS = 7 * 24 * int64(time.Hour/time.Millisecond)
)

// store is the history file: for each tier a bucket holding one bucket
// per series (named by seriesKey), whose keys are block start times (ms,
// big-endian) and whose values are a block's slots, 16 bytes each (min,
// avg, max, last as little-endian float32; an empty slot has a NaN min).
type store struct {
	db     *bolt.DB
	blocks [2]int // blocks held per tier, for the size bound
	// ratio is the bytes the file used per byte of size(), measured after
	// each write (page slack, bucket pages, the freelist); at least 1.
	ratio float64
	// share is the part of MaxSize the pages in use may take (budget); it
	// shrinks when the file comes near MaxSize anyway.
	share    float64
	lastSize int64 // the file's size after the last write
}

// setLimit grows the file in steps of a 32nd of maxSize (64 KiB to 1 MiB).
func (st *store) setLimit(maxSize int64) {
	st.db.AllocSize = int(min(max(maxSize/32, 64<<10), 1<<20))
}

// openStore opens or creates the file at path. A file that bbolt cannot
// open or that fails its consistency check is renamed to
// path.corrupt-<time> and a new one created; that is logged.
func openStore(path string, log *slog.Logger, noSync bool) (*store, error) {
	st, err := tryOpen(path, noSync)
	if err == nil {
		return st, nil
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("history: %s is in use by another process", path)
	}
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("history: %s cannot be opened (%v) nor moved aside: %w", path, err, rerr)
	}
	log.Warn("history file unreadable; moved aside, starting a new one", "path", path, "moved_to", aside, "err", err)
	return tryOpen(path, noSync)
}

func tryOpen(path string, noSync bool) (st *store, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: noSync})
	if err != nil {
		return nil, err
	}
	// Grow the file in small steps, not bbolt's 16 MiB, so MaxSize holds
	// (setLimit sets them by MaxSize).
	db.AllocSize = 1 << 20
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt: %v", p)
		}
		if err != nil {
			db.Close()
		}
	}()
	st = &store{db: db, ratio: 2, share: 0.7}
	err = db.Update(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keyVersion); v != nil && string(v) != fileVersion {
			return fmt.Errorf("version %q, want %q", v, fileVersion)
		}
		if err := meta.Put(keyVersion, []byte(fileVersion)); err != nil {
			return err
		}
		for i, name := range [][]byte{bucketMinute, bucketQuarter} {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			err = b.ForEachBucket(func(k []byte) error {
				st.blocks[i] += b.Bucket(k).Stats().KeyN
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}

func (st *store) close() error { return st.db.Close() }

// tierOf maps a step to its bucket, block span and slot count.
func tierOf(step int64) (name []byte, i int, span int64, slots int) {
	if step == minute {
		return bucketMinute, 0, minute * slotsMinute, slotsMinute
	}
	return bucketQuarter, 1, quarter * slotsQuarter, slotsQuarter
}

// write stores slots (sorted by time) of one series in tx.
func (st *store) write(tx *bolt.Tx, key string, step int64, slots []slot) error {
	name, ti, span, n := tierOf(step)
	b, err := tx.Bucket(name).CreateBucketIfNotExists([]byte(key))
	if err != nil {
		return err
	}
	// Blocks are added in time order, at the end: full pages waste nothing.
	b.FillPercent = 1
	var block []byte
	var start int64 = math.MinInt64
	flush := func() error {
		if block == nil {
			return nil
		}
		return b.Put(be64(start), block)
	}
	for _, sl := range slots {
		if s := sl.T - mod(sl.T, span); s != start {
			if err := flush(); err != nil {
				return err
			}
			start = s
			if old := b.Get(be64(s)); len(old) == n*slotBytes {
				block = append([]byte(nil), old...)
			} else {
				block = emptyBlock(n)
				st.blocks[ti]++
			}
		}
		putSlot(block[(sl.T-start)/step*slotBytes:], sl)
	}
	return flush()
}

// read returns the stored slots of one series within [from, to] (ms).
func (st *store) read(key string, step, from, to int64) ([]slot, error) {
	name, _, span, _ := tierOf(step)
	var out []slot
	err := st.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(name).Bucket([]byte(key))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(be64(from - mod(from, span))); k != nil; k, v = c.Next() {
			start := int64(binary.BigEndian.Uint64(k))
			if start > to {
				break
			}
			for i := 0; i+slotBytes <= len(v); i += slotBytes {
				sl, ok := getSlot(v[i:], start+int64(i/slotBytes)*step)
				if ok && sl.T >= from && sl.T <= to {
					out = append(out, sl)
				}
			}
		}
		return nil
	})
	return out, err
}

// prune deletes blocks that ended before the tiers' horizons, then the
// oldest blocks of either tier while the estimated size passes budget.
func (st *store) prune(tx *bolt.Tx, now, retention, budget int64) error {
	// A block goes once all of it is past the tier's horizon.
	if err := st.dropBefore(tx, minute, now-weekMS-minute*slotsMinute+1); err != nil {
		return err
	}
	if err := st.dropBefore(tx, quarter, now-retention-quarter*slotsQuarter+1); err != nil {
		return err
	}
	for st.size() > budget {
		o1, ok1 := st.oldest(tx, minute)
		o15, ok15 := st.oldest(tx, quarter)
		var err error
		switch {
		case ok15 && (!ok1 || o15 <= o1):
			err = st.dropBefore(tx, quarter, o15+1)
		case ok1:
			err = st.dropBefore(tx, minute, o1+1)
		default:
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// measure updates ratio from the pages the file uses: its size less the
// free pages and those freed by the last write (pending until no reader
// needs them).
func (st *store) measure(maxSize int64) {
	var size int64
	_ = st.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	s := st.db.Stats()
	used := size - int64(s.FreeAlloc) - int64(s.PendingPageN*st.db.Info().PageSize)
	if est := st.size(); est > 0 && used > 0 {
		st.ratio = max(1, float64(used)/float64(est))
	}
	if size > st.lastSize && size > maxSize*85/100 && st.share > 0.3 {
		st.share *= 0.9 // the file grew near its bound: the writes copy more than planned for
	}
	st.lastSize = size
}

// budget is the size() that keeps the pages in use at share (70 %) of
// maxSize, leaving room for the pages a write copies before it frees the
// old ones (a write burst per minute of 100 series copies well under a
// tenth of the file; larger, rarer bursts more, and then share shrinks).
func (st *store) budget(maxSize int64) int64 {
	return int64(st.share * float64(maxSize) / st.ratio)
}

// size estimates the bytes the file needs for the blocks it holds.
func (st *store) size() int64 {
	return int64(st.blocks[0])*(slotsMinute*slotBytes+blockOverhead) +
		int64(st.blocks[1])*(slotsQuarter*slotBytes+blockOverhead)
}

// dropBefore deletes every block of the tier that starts before t, in
// every series.
func (st *store) dropBefore(tx *bolt.Tx, step, t int64) error {
	name, ti, _, _ := tierOf(step)
	tier := tx.Bucket(name)
	return tier.ForEachBucket(func(key []byte) error {
		c := tier.Bucket(key).Cursor()
		for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k)) < t; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			st.blocks[ti]--
		}
		return nil
	})
}

// oldest returns the earliest block start of the tier.
func (st *store) oldest(tx *bolt.Tx, step int64) (int64, bool) {
	name, _, _, _ := tierOf(step)
	tier := tx.Bucket(name)
	best, ok := int64(math.MaxInt64), false
	_ = tier.ForEachBucket(func(key []byte) error {
		if k, _ := tier.Bucket(key).Cursor().First(); k != nil {
			if s := int64(binary.BigEndian.Uint64(k)); s < best {
				best, ok = s, true
			}
		}
		return nil
	})
	return best, ok
}

func emptyBlock(n int) []byte {
	b := make([]byte, n*slotBytes)
	for i := 0; i < len(b); i += slotBytes {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(nan32))
	}
	return b
}

func putSlot(b []byte, s slot) {
	binary.LittleEndian.PutUint32(b[0:], math.Float32bits(s.Min))
	binary.LittleEndian.PutUint32(b[4:], math.Float32bits(s.Avg))
	binary.LittleEndian.PutUint32(b[8:], math.Float32bits(s.Max))
	binary.LittleEndian.PutUint32(b[12:], math.Float32bits(s.Last))
}

func getSlot(b []byte, t int64) (slot, bool) {
	min := math.Float32frombits(binary.LittleEndian.Uint32(b[0:]))
	if min != min { // NaN: empty
		return slot{}, false
	}
	return slot{
		T:    t,
		Min:  min,
		Avg:  math.Float32frombits(binary.LittleEndian.Uint32(b[4:])),
		Max:  math.Float32frombits(binary.LittleEndian.Uint32(b[8:])),
		Last: math.Float32frombits(binary.LittleEndian.Uint32(b[12:])),
	}, true
}

func be64(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}
