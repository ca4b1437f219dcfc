package history

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"time"
)

// Request is a history query, sent as JSON:
//
//	{"topic":"gw/sensors/demo/state","field":"temperature_c","range":"24h"}
//	{"topic":"zigbee2mqtt/hall","field":"temperature","from":1764633600000,"to":1764637200000}
//	{"op":"series"}
//
// Range is one of Ranges and ends now; From and To are Unix milliseconds
// (To 0: now). Op "series" lists the series the asker may read.
type Request struct {
	Op    string `json:"op,omitempty"`
	Topic string `json:"topic"`
	Field string `json:"field"`
	Range string `json:"range,omitempty"`
	From  int64  `json:"from,omitempty"`
	To    int64  `json:"to,omitempty"`
}

// Ranges are the named ranges a Request may ask for.
var Ranges = map[string]time.Duration{
	"1h":  time.Hour,
	"6h":  6 * time.Hour,
	"24h": 24 * time.Hour,
	"7d":  7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour,
}

// Answer is the reply to a Request, in columns: T[i] (Unix ms) has the
// value V[i]; a null V marks a gap (no data was recorded there). Step is
// the resolution in seconds (0: raw readings); on aggregated answers Min
// and Max give the band around V, the average.
type Answer struct {
	Topic  string     `json:"topic,omitempty"`
	Field  string     `json:"field,omitempty"`
	From   int64      `json:"from,omitempty"`
	To     int64      `json:"to,omitempty"`
	Step   int64      `json:"step"`
	T      []int64    `json:"t"`
	V      []*float32 `json:"v"`
	Min    []*float32 `json:"min,omitempty"`
	Max    []*float32 `json:"max,omitempty"`
	Series []Series   `json:"series,omitempty"`
	Error  string     `json:"error,omitempty"`
}

// maxSpan bounds a query's time range.
const maxSpan = 400 * 24 * time.Hour

// Handle answers one JSON request for an asker who may read exactly the
// topics for which canRead is true. Every outcome is an Answer, errors
// included ("error"); the same words for a topic that is not recorded
// and one the asker may not read, so nobody learns what others record.
func (r *Recorder) Handle(payload []byte, canRead func(topic string) bool) []byte {
	var req Request
	var a Answer
	if err := json.Unmarshal(payload, &req); err != nil {
		a.Error = "bad request: " + err.Error()
	} else if req.Op == "series" {
		a.Series = []Series{}
		for _, s := range r.Series() {
			if canRead(s.Topic) {
				a.Series = append(a.Series, s)
			}
		}
	} else if req.Op != "" {
		a.Error = "bad request: op " + strconv.Quote(req.Op) + " is not known; use \"series\" or none"
	} else {
		var err error
		if a, err = r.query(req, canRead(req.Topic)); err != nil {
			a.Error = err.Error()
		}
	}
	b, _ := json.Marshal(a)
	return b
}

// Query answers req from memory and the history file, at the finest
// resolution that fits: raw readings for ranges within the last hour,
// 1-minute aggregates up to two days within the last week, 15-minute
// aggregates beyond.
func (r *Recorder) Query(req Request) (Answer, error) { return r.query(req, true) }

// query answers req; with data false it answers as for a series never
// recorded.
func (r *Recorder) query(req Request, data bool) (Answer, error) {
	now := r.now().UnixMilli()
	from, to := req.From, req.To
	if req.Range != "" {
		d, ok := Ranges[req.Range]
		if !ok {
			return Answer{}, errors.New("bad request: range " + strconv.Quote(req.Range) + " is not one of 1h, 6h, 24h, 7d, 30d")
		}
		from, to = now-d.Milliseconds(), now
	}
	if to == 0 {
		to = now
	}
	if req.Topic == "" || from <= 0 || to < from || to-from > maxSpan.Milliseconds() {
		return Answer{}, errors.New("bad request: give a topic and a range, or from <= to (Unix ms) at most 400 days apart")
	}
	a := Answer{Topic: req.Topic, Field: req.Field, From: from, To: to, T: []int64{}, V: []*float32{}}
	key := seriesKey(req.Topic, req.Field)
	if !data {
		key = "" // no series has the empty key: seriesKey always holds a NUL
	}
	switch {
	case to-from <= rawSpan && from >= now-rawSpan-minute:
		return a, r.raw(&a, key, from, to)
	case to-from <= 2*24*int64(time.Hour/time.Millisecond) && from >= now-weekMS:
		return a, r.aggregated(&a, key, minute, from, to)
	default:
		return a, r.aggregated(&a, key, quarter, from, to)
	}
}

// raw fills a with the raw readings in [from, to], preceded by 1-minute
// averages where the raw tier does not reach back (after a restart).
func (r *Recorder) raw(a *Answer, key string, from, to int64) error {
	r.mu.Lock()
	var ts []int64
	var vs []float32
	if s := r.series[key]; s != nil {
		i := sort.Search(len(s.rawT), func(i int) bool { return s.rawT[i] >= from })
		for ; i < len(s.rawT) && s.rawT[i] <= to; i++ {
			ts, vs = append(ts, s.rawT[i]), append(vs, s.rawV[i])
		}
	}
	r.mu.Unlock()
	if len(ts) == 0 || ts[0] > from+2*minute {
		end := to
		if len(ts) > 0 {
			end = ts[0] - 1
		}
		slots, err := r.slots(key, minute, from, end)
		if err != nil {
			return err
		}
		for _, sl := range slots {
			a.T, a.V = append(a.T, sl.T), append(a.V, ptr(sl.Avg))
		}
	}
	gap := rawGap(ts)
	for i, t := range ts {
		if i > 0 && t-ts[i-1] > gap {
			a.T, a.V = append(a.T, ts[i-1]+1), append(a.V, nil)
		}
		a.T, a.V = append(a.T, t), append(a.V, ptr(vs[i]))
	}
	return nil
}

// rawGap is the spacing of raw readings that counts as a gap: five times
// the usual spacing, at least 10 s.
func rawGap(ts []int64) int64 {
	if len(ts) < 3 {
		return math.MaxInt64
	}
	d := make([]int64, len(ts)-1)
	for i := range d {
		d[i] = ts[i+1] - ts[i]
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return max(5*d[len(d)/2], 10_000)
}

// aggregated fills a with the slots of the tier with step in [from, to],
// a null where a slot is missing between two present ones.
func (r *Recorder) aggregated(a *Answer, key string, step, from, to int64) error {
	slots, err := r.slots(key, step, from, to)
	if err != nil {
		return err
	}
	a.Step = step / 1000
	a.Min, a.Max = []*float32{}, []*float32{}
	for i, sl := range slots {
		if i > 0 && sl.T-slots[i-1].T > step {
			a.T = append(a.T, slots[i-1].T+step)
			a.V, a.Min, a.Max = append(a.V, nil), append(a.Min, nil), append(a.Max, nil)
		}
		a.T = append(a.T, sl.T)
		a.V, a.Min, a.Max = append(a.V, ptr(sl.Avg)), append(a.Min, ptr(sl.Min)), append(a.Max, ptr(sl.Max))
	}
	return nil
}

// slots merges the tier's slots in [from, to] from the file, the pending
// ones and the open one, sorted by time, one per interval.
func (r *Recorder) slots(key string, step, from, to int64) ([]slot, error) {
	r.mu.Lock()
	var mem []slot
	if s := r.series[key]; s != nil {
		for _, sl := range s.pending(step) {
			if sl.T >= from && sl.T <= to {
				mem = append(mem, sl)
			}
		}
		if sl, ok := s.open(step); ok && sl.T >= from && sl.T <= to {
			mem = append(mem, sl)
		}
	}
	r.mu.Unlock()
	var disk []slot
	r.storeMu.RLock()
	if r.store != nil {
		var err error
		if disk, err = r.store.read(key, step, from, to); err != nil {
			r.storeMu.RUnlock()
			return nil, err
		}
	}
	r.storeMu.RUnlock()
	all := append(disk, mem...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].T < all[j].T })
	out := all[:0]
	for _, sl := range all {
		if n := len(out); n > 0 && out[n-1].T == sl.T {
			out[n-1] = sl // the later source (memory) wins
			continue
		}
		out = append(out, sl)
	}
	return out, nil
}

func ptr(v float32) *float32 { return &v }

// RequestTopic is where the gateway gatewayID takes history requests.
func RequestTopic(gatewayID string) string { return gatewayID + "/history/query" }
