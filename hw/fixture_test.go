package hw

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSoCTempFixture(t *testing.T) {
	o := &Opener{SysRoot: "testdata/sys"}
	s, err := o.OpenSensor(SensorConfig{Name: "cpu", Driver: DriverSoCTemp})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := values(r); got["temperature_c"] != 48.31 {
		t.Fatalf("reading %v, want temperature_c 48.31", got)
	}
}

func TestSoCTempMissingZone(t *testing.T) {
	dir := t.TempDir()
	_, err := NewSoCTemp("cpu", dir)
	if err == nil || !strings.Contains(err.Error(), `soc-temp "cpu"`) || !strings.Contains(err.Error(), filepath.Join(dir, "temp")) {
		t.Fatalf("err = %v, want one naming the sensor and the file", err)
	}
	os.WriteFile(filepath.Join(dir, "temp"), []byte("hot\n"), 0o644)
	if _, err := NewSoCTemp("cpu", dir); err == nil || !strings.Contains(err.Error(), "millidegrees") {
		t.Fatalf("err = %v", err)
	}
}

func TestSystemFixture(t *testing.T) {
	o := &Opener{ProcRoot: "testdata/proc", DataDir: t.TempDir()}
	s, err := o.OpenSensor(SensorConfig{Name: "host", Driver: DriverSystem})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := values(r)
	want := map[string]float64{"cpu_load": 0.42, "mem_available_bytes": 712086 * 1024, "mem_used_pct": 25, "uptime_s": 12345}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["disk_free_bytes"] <= 0 || got["disk_free_pct"] <= 0 || got["disk_free_pct"] > 100 {
		t.Errorf("disk free %v bytes, %v%%", got["disk_free_bytes"], got["disk_free_pct"])
	}
}

func TestSystemMissingProc(t *testing.T) {
	_, err := NewSystem("host", t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `system "host"`) || !strings.Contains(err.Error(), "loadavg") {
		t.Fatalf("err = %v", err)
	}
}

func TestSimDeterministic(t *testing.T) {
	a, b := NewSim("a"), NewSim("b")
	var prev float64
	for i := range 5 {
		ra, _ := a.Read(context.Background())
		rb, _ := b.Read(context.Background())
		va, vb := values(ra), values(rb)
		if va["temperature_c"] != vb["temperature_c"] || va["reads_count"] != float64(i+1) {
			t.Fatalf("read %d: %v vs %v", i, va, vb)
		}
		if va["reads_count"] == prev {
			t.Fatal("counter did not change")
		}
		prev = va["reads_count"]
	}
	act := NewSimActuator("lamp", On)
	if act.State() != On || act.Set(context.Background(), Off) != nil || act.State() != Off {
		t.Fatal("sim actuator does not remember its state")
	}
}

// FuzzSystemProc feeds the system sensor arbitrary /proc files: it must
// not panic, and what it reports must be finite numbers.
func FuzzSystemProc(f *testing.F) {
	f.Add("0.42 0.35 0.30 1/123 4567\n", "12345.67 23456.78\n", "MemTotal: 949448 kB\nMemAvailable: 712086 kB\n")
	f.Add("NaN", "+Inf", "MemTotal: 1 kB\nMemAvailable: 2 kB\n")
	f.Add("", "1e400", "MemTotal:\nMemAvailable: x kB\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, loadavg, uptime, meminfo string) {
		for name, data := range map[string]string{"loadavg": loadavg, "uptime": uptime, "meminfo": meminfo} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := &System{name: "host", proc: dir, dir: dir}
		r, err := s.Read(context.Background())
		if err != nil {
			return
		}
		for _, q := range r.Values {
			if math.IsNaN(q.Value) || math.IsInf(q.Value, 0) {
				t.Fatalf("%s = %v from loadavg %q, uptime %q", q.Key(), q.Value, loadavg, uptime)
			}
		}
	})
}

// FuzzSoCTemp feeds the soc-temp sensor an arbitrary thermal zone file.
func FuzzSoCTemp(f *testing.F) {
	for _, s := range []string{"48312\n", "-5000", "hot", "", "9223372036854775807", " 1 \n"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data string) {
		if err := os.WriteFile(filepath.Join(dir, "temp"), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := (&SoCTemp{name: "cpu", zone: dir}).Read(context.Background())
		if err != nil {
			return
		}
		if v := r.Values[0].Value; len(r.Values) != 1 || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%q -> %+v", data, r.Values)
		}
	})
}
