package hw

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// System reports the host's health from /proc and the file system of a
// directory: cpu_load (1-minute load average), mem_available_bytes,
// mem_used_pct, disk_free_bytes, disk_free_pct and uptime_s. It works on
// any Linux. Safe for concurrent use; it holds no open file.
type System struct {
	name string
	proc string
	dir  string
}

var _ Sensor = (*System)(nil)

// NewSystem returns a system sensor reading procRoot (normally /proc) and
// the free space of the file system holding dir. It reads once to fail
// early.
func NewSystem(name, procRoot, dir string) (*System, error) {
	s := &System{name: name, proc: procRoot, dir: dir}
	if _, err := s.Read(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Name implements Sensor.
func (s *System) Name() string { return s.name }

// Read implements Sensor.
func (s *System) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	fail := func(err error) (Reading, error) { return Reading{}, fmt.Errorf("hw: system %q: %w", s.name, err) }
	load, err := s.firstField("loadavg")
	if err != nil {
		return fail(err)
	}
	up, err := s.firstField("uptime")
	if err != nil {
		return fail(err)
	}
	total, avail, err := s.meminfo()
	if err != nil {
		return fail(err)
	}
	free, size, err := diskFree(s.dir)
	if err != nil {
		return fail(fmt.Errorf("disk free of %s: %w", s.dir, err))
	}
	r := Reading{Time: time.Now(), Values: []Quantity{
		{"cpu", "load", load},
		{"mem_available", "bytes", avail},
		{"mem_used", "pct", pct(total-avail, total)},
		{"disk_free", "bytes", free},
		{"disk_free", "pct", pct(free, size)},
		{"uptime", "s", float64(int64(up))},
	}}
	return r, nil
}

// Close implements Sensor; it does nothing.
func (s *System) Close() error { return nil }

func pct(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return round2(100 * part / whole)
}

// firstField parses the first number of /proc/<file> (loadavg, uptime).
func (s *System) firstField(file string) (float64, error) {
	p := filepath.Join(s.proc, file)
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("%s: empty", p)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: %q is not a number", p, f[0])
	}
	return v, nil
}

// meminfo returns MemTotal and MemAvailable in bytes.
func (s *System) meminfo() (total, avail float64, err error) {
	p := filepath.Join(s.proc, "meminfo")
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, 0, err
	}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "MemTotal" && k != "MemAvailable") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %s: %q is not a number", p, k, f[0])
		}
		if k == "MemTotal" {
			total = float64(n) * 1024
		} else {
			avail = float64(n) * 1024
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%s: MemTotal or MemAvailable missing", p)
	}
	return total, avail, nil
}
