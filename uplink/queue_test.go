package uplink

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, record{QoS: 1, Time: time.Unix(1700000000, 5), Topic: "site/gw-1/sensors/t", Payload: []byte(`{"t":1}`)}))
	f.Add(encodeRecord(nil, record{QoS: 2, Retain: true, Time: time.Unix(0, 0), Topic: "a"}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(nil, r))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.QoS != r.QoS || again.Retain != r.Retain || !again.Time.Equal(r.Time) ||
			again.Topic != r.Topic || !bytes.Equal(again.Payload, r.Payload) {
			t.Fatalf("round trip changed the record: %+v -> %+v", r, again)
		}
	})
}

// TestQueueReopenKeepsOrder: records survive close and reopen, in order,
// and removed ones stay removed.
func TestQueueReopenKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := openQueue(path, 1<<20, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for i := range 10 {
		s, err := q.put(record{QoS: 1, Time: time.Now(), Topic: "t", Payload: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	if err := q.remove(seqs[:3]); err != nil {
		t.Fatal(err)
	}
	q.close()
	if _, err := q.put(record{QoS: 1, Topic: "t"}); err == nil {
		t.Fatal("put after close succeeded")
	}
	q, err = openQueue(path, 1<<20, time.Hour, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	recs, err := q.read(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || q.depth.Load() != 7 {
		t.Fatalf("reopened queue holds %d records (depth %d), want 7", len(recs), q.depth.Load())
	}
	for i, r := range recs {
		if r.Payload[0] != byte(i+3) {
			t.Fatalf("record %d holds %d, want %d", i, r.Payload[0], i+3)
		}
	}
}

// TestQueueMaxAge: records older than max_age are dropped and counted.
func TestQueueMaxAge(t *testing.T) {
	q, err := openQueue(filepath.Join(t.TempDir(), "q.db"), 1<<20, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if _, err := q.put(record{QoS: 1, Time: time.Now().Add(-2 * time.Minute), Topic: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.put(record{QoS: 1, Time: time.Now(), Topic: "new"}); err != nil {
		t.Fatal(err)
	}
	recs, _ := q.read(0, 10)
	if len(recs) != 1 || recs[0].Topic != "new" || q.dropped.Load() != 1 {
		t.Fatalf("queue holds %v, dropped %d; want only the new record and 1 drop", recs, q.dropped.Load())
	}
}
