package history

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// clock is a settable time source for a recorder.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) ms() int64           { return c.t.UnixMilli() }
func start() *clock                  { return &clock{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)} }
func quiet() *slog.Logger            { return slog.New(slog.DiscardHandler) }
func testConfig() Config             { c := DefaultConfig(); return c }
func newRec(t testing.TB, c *clock, dir string, cfg Config) *Recorder {
	t.Helper()
	r, err := New(cfg, quiet(), dir)
	if err != nil {
		t.Fatal(err)
	}
	r.now = c.now
	r.noSync = true
	return r
}

// open opens r's file as Run does, closing it when the test ends.
func open(t testing.TB, r *Recorder) {
	t.Helper()
	st, err := openStore(r.path, r.log, r.noSync)
	if err != nil {
		t.Fatal(err)
	}
	st.setLimit(int64(r.cfg.MaxSize))
	r.store = st
	t.Cleanup(func() { st.close() })
}

func values(a Answer) []float64 {
	var out []float64
	for _, v := range a.V {
		if v == nil {
			out = append(out, math.NaN())
		} else {
			out = append(out, float64(*v))
		}
	}
	return out
}

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    string
	}{
		{`21.5`, `=21.5`},
		{` -3 `, `=-3`},
		{`on`, ``},
		{`NaN`, ``},
		{`{"ts":"2026-11-23T10:00:00Z","temperature_c":21.43,"reads_count":7}`, `reads_count=7 temperature_c=21.43`},
		{`{"temperature":19.2,"humidity":55,"contact":true,"state":"ON","battery":null,"list":[1,2]}`, `humidity=55 temperature=19.2`},
		{`{"update":{"installed_version":5},"linkquality":120}`, `linkquality=120 update.installed_version=5`},
		{`{"a":1`, ``},
		{`[1,2,3]`, ``},
		{``, ``},
	} {
		var got []string
		Fields([]byte(tc.payload), func(f string, v float64) { got = append(got, f+"="+strings.TrimSuffix(trimFloat(v), ".0")) })
		sort.Strings(got)
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("Fields(%q) = %q, want %q", tc.payload, s, tc.want)
		}
	}
}

func trimFloat(v float64) string { b, _ := json.Marshal(v); return string(b) }

// Readings each second for two hours: the last hour comes back raw, six
// hours as 1-minute min/avg/max, a week as 15-minute aggregates; all from
// memory and file together.
func TestTiersDownsample(t *testing.T) {
	c := start()
	r := newRec(t, c, t.TempDir(), testConfig())
	open(t, r)
	t0 := c.ms()
	for i := 0; i < 2*3600; i++ {
		r.Record("gw/sensors/s/state", []byte(`{"v":`+itoa(i%60)+`}`)) // 0..59 each minute
		c.add(time.Second)
		if i%60 == 59 {
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := r.Query(Request{Topic: "gw/sensors/s/state", Field: "v", Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Step != 0 || len(raw.T) < 3590 || len(raw.T) > 3601 || raw.Min != nil {
		t.Errorf("1h: step %d, %d points, min %v; want raw readings, about 3600", raw.Step, len(raw.T), raw.Min != nil)
	}
	m, err := r.Query(Request{Topic: "gw/sensors/s/state", Field: "v", Range: "6h"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Step != 60 || len(m.T) != 120 {
		t.Fatalf("6h: step %d, %d points; want 60 s, 120", m.Step, len(m.T))
	}
	if m.T[0] != t0 || *m.Min[0] != 0 || *m.Max[0] != 59 || *m.V[0] != 29.5 {
		t.Errorf("first minute = t %d min %v avg %v max %v; want t %d 0/29.5/59", m.T[0], *m.Min[0], *m.V[0], *m.Max[0], t0)
	}
	q, err := r.Query(Request{Topic: "gw/sensors/s/state", Field: "v", Range: "7d"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Step != 900 || len(q.T) != 8 || *q.V[0] != 29.5 || *q.Min[0] != 0 || *q.Max[0] != 59 {
		t.Errorf("7d: step %d, %d points, first %v; want 900 s, 8 quarter hours of 0/29.5/59", q.Step, len(q.T), values(q))
	}
}

// A sensor silent for ten minutes shows as a gap (a null), not a line.
func TestGapsAreNull(t *testing.T) {
	c := start()
	r := newRec(t, c, t.TempDir(), testConfig())
	open(t, r)
	for i := 0; i < 30; i++ {
		if i < 10 || i >= 20 {
			r.Record("t", []byte("1"))
		}
		c.add(time.Minute)
	}
	a, err := r.Query(Request{Topic: "t", Range: "6h"})
	if err != nil {
		t.Fatal(err)
	}
	nulls := 0
	for _, v := range a.V {
		if v == nil {
			nulls++
		}
	}
	if nulls != 1 || len(a.T) != 21 {
		t.Errorf("points %v: %d nulls of %d; want 20 values and one null between them", values(a), nulls, len(a.T))
	}
}

// 1-minute data goes after 7 days, 15-minute data after the retention.
func TestRetention(t *testing.T) {
	c := start()
	cfg := testConfig()
	cfg.Retention = Duration(10 * 24 * time.Hour)
	r := newRec(t, c, t.TempDir(), cfg)
	open(t, r)
	t0 := c.ms()
	for h := 0; h < 15*24; h++ {
		for m := 0; m < 60; m++ {
			r.Record("t", []byte("2"))
			c.add(time.Minute)
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	now := c.ms()
	m1, _ := r.slots(seriesKey("t", ""), minute, t0, now)
	q15, _ := r.slots(seriesKey("t", ""), quarter, t0, now)
	if len(m1) == 0 || m1[0].T < now-weekMS-time.Hour.Milliseconds() {
		t.Errorf("oldest 1-minute slot is %v old; want at most 7 days (and a block)", time.Duration(now-m1[0].T)*time.Millisecond)
	}
	if len(q15) == 0 || q15[0].T < now-10*24*time.Hour.Milliseconds()-24*time.Hour.Milliseconds() {
		t.Errorf("oldest 15-minute slot is %v old; want at most the 10 d retention (and a block)", time.Duration(now-q15[0].T)*time.Millisecond)
	}
	if q15[0].T <= t0 {
		t.Errorf("15-minute data from the start is still there after 15 days with 10 d retention")
	}
}

// Writes happen once per flush interval, however many readings come.
func TestOneWriteBurstPerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.FlushInterval = Duration(time.Minute)
		r, err := New(cfg, quiet(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r.noSync = true
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		for i := 0; i < 10*60*5; i++ { // 5 readings a second for 10 minutes
			r.Record("gw/sensors/a/state", []byte(`{"x":1,"y":2}`))
			time.Sleep(200 * time.Millisecond) // synctest: fake time, the bubble's clock advances
		}
		synctest.Wait() // the tick at 10:00 is written
		if got := r.flushes.Load(); got != 10 {
			t.Errorf("after 10 intervals: %d write bursts, want 10", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := r.flushes.Load(); got != 11 {
			t.Errorf("after stop: %d write bursts, want 11 (one final)", got)
		}
	})
}

// A file that is not a history file is moved aside, with a log line, and
// recording goes on in a new one.
func TestCorruptFileMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := start()
	r := newRec(t, c, dir, testConfig())
	r.log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	r.Record("t", []byte("5"))
	c.add(2 * time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run with a corrupt file: %v", err)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 || !strings.Contains(logs.String(), "moved aside") {
		t.Fatalf("moved aside: %v; log %q", aside, logs.String())
	}
	r2 := newRec(t, c, dir, testConfig())
	open(t, r2)
	a, err := r2.Query(Request{Topic: "t", Range: "6h"})
	if err != nil || len(a.T) != 1 || *a.V[0] != 5 {
		t.Errorf("new file after restart: %v %v; want the one reading", values(a), err)
	}
}

// The file stays under MaxSize: the oldest data goes first, the newest
// stays whole.
func TestMaxSize(t *testing.T) {
	c := start()
	t0 := c.ms()
	cfg := testConfig()
	cfg.MaxSize = 4 << 20
	dir := t.TempDir()
	r := newRec(t, c, dir, cfg)
	open(t, r)
	// One reading per quarter hour and series: the file holds one block
	// per hour (1-minute tier) and day (15-minute tier) either way.
	for h := 0; h < 30*24; h++ {
		for m := 0; m < 4; m++ {
			for s := 0; s < 30; s++ {
				r.add(seriesKey("dev/"+itoa(s), "v"), c.ms(), float64(m))
			}
			c.add(15 * time.Minute)
		}
		if err := r.Flush(); err != nil { // hourly: the default is every minute
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > int64(cfg.MaxSize) {
		t.Errorf("file is %d bytes, over max_size %d", fi.Size(), cfg.MaxSize)
	}
	m, _ := r.Query(Request{Topic: "dev/3", Field: "v", Range: "6h"})
	if n := len(values(m)) - countNaN(values(m)); n != 24 {
		t.Errorf("last 6 h: %d quarter-hour readings at 1-minute resolution, want all 24", n)
	}
	q, _ := r.Query(Request{Topic: "dev/3", Field: "v", From: t0, To: c.ms()})
	if len(q.T) == 0 || q.T[0] <= t0+24*time.Hour.Milliseconds() {
		t.Errorf("the oldest data is still there although the file is full")
	}
	t.Logf("file %d bytes; data from the last %v", fi.Size(), time.Duration(c.ms()-q.T[0])*time.Millisecond)
}

func countNaN(v []float64) int {
	n := 0
	for _, x := range v {
		if math.IsNaN(x) {
			n++
		}
	}
	return n
}

// Nobody learns from history what they may not read: the answer for a
// topic the asker may not read is the answer for a topic never recorded.
func TestHandleRefusesUnreadable(t *testing.T) {
	c := start()
	r := newRec(t, c, t.TempDir(), testConfig())
	r.Record("devices/alice/state", []byte(`{"t":20}`))
	r.Record("devices/bob/state", []byte(`{"t":30}`))
	c.add(time.Second)
	aliceOnly := func(topic string) bool { return strings.HasPrefix(topic, "devices/alice/") }
	var mine, theirs, never Answer
	json.Unmarshal(r.Handle([]byte(`{"topic":"devices/alice/state","field":"t","range":"1h"}`), aliceOnly), &mine)
	json.Unmarshal(r.Handle([]byte(`{"topic":"devices/bob/state","field":"t","range":"1h"}`), aliceOnly), &theirs)
	json.Unmarshal(r.Handle([]byte(`{"topic":"devices/carol/state","field":"t","range":"1h"}`), aliceOnly), &never)
	if len(mine.V) != 1 || *mine.V[0] != 20 {
		t.Errorf("own history: %v, want [20]", values(mine))
	}
	theirs.Topic, never.Topic = "", ""
	if len(theirs.T) != 0 || !reflect.DeepEqual(theirs, never) {
		t.Errorf("other device's history: %+v; want what an unrecorded topic gives (%+v)", theirs, never)
	}
	var list Answer
	json.Unmarshal(r.Handle([]byte(`{"op":"series"}`), aliceOnly), &list)
	if len(list.Series) != 1 || list.Series[0].Topic != "devices/alice/state" {
		t.Errorf("series list = %v, want alice's only", list.Series)
	}
	var bad Answer
	json.Unmarshal(r.Handle([]byte(`{"topic":"devices/alice/state","range":"2y"}`), aliceOnly), &bad)
	if !strings.Contains(bad.Error, "range") {
		t.Errorf("bad range answered %+v, want an error naming the range", bad)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// After a restart the last hour comes from the 1-minute tier up to where
// the raw readings begin, with no minute counted twice.
func TestRawAfterRestartUsesMinutes(t *testing.T) {
	c := start()
	dir := t.TempDir()
	r := newRec(t, c, dir, testConfig())
	open(t, r)
	for i := 0; i < 30; i++ { // 30 minutes at one reading a minute, value 1
		r.Record("t", []byte("1"))
		c.add(time.Minute)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	r.store.close()
	c.add(20 * time.Second)
	r2 := newRec(t, c, dir, testConfig()) // restarted mid-minute: no raw readings
	open(t, r2)
	for i := 0; i < 90; i++ { // then 90 s of raw readings, value 2
		r2.Record("t", []byte("2"))
		c.add(time.Second)
	}
	a, err := r2.Query(Request{Topic: "t", Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	ones, twos := 0, 0
	for _, v := range values(a) {
		switch v {
		case 1:
			ones++
		case 2:
			twos++
		default:
			t.Fatalf("value %v in %v; want only the minutes (1) and the raw readings (2)", v, values(a))
		}
	}
	if ones != 30 || twos != 90 {
		t.Errorf("%d minutes and %d raw readings, want 30 and 90", ones, twos)
	}
}

// A message whose topic several watched filters match is one reading;
// other topics are not recorded.
func TestTakeRecordsOnce(t *testing.T) {
	c := start()
	r := newRec(t, c, t.TempDir(), testConfig())
	r.Watch("gw/sensors/+/state", "gw/#", "+/sensors/#")
	r.Take("gw/sensors/a/state", []byte(`{"t":5}`))
	r.Take("other/x", []byte(`7`))
	c.add(time.Second)
	a, err := r.Query(Request{Topic: "gw/sensors/a/state", Field: "t", Range: "1h"})
	if err != nil || len(a.T) != 1 {
		t.Errorf("one message matched by three filters: %d readings (%v), want 1", len(a.T), err)
	}
	if s := r.Series(); len(s) != 1 {
		t.Errorf("series %v, want only gw/sensors/a/state t", s)
	}
}
