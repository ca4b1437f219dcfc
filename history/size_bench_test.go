package history

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFile30Days records 100 quantities for 30 simulated days (one
// reading a minute: the file holds aggregates, so the rate of readings
// does not change its size) with the default max_size and reports the
// file's size.
func BenchmarkFile30Days(b *testing.B) {
	for range b.N {
		c := start()
		dir := b.TempDir()
		r := newRec(b, c, dir, DefaultConfig())
		open(b, r)
		for d := 0; d < 31; d++ {
			for h := 0; h < 24; h++ {
				for m := 0; m < 60; m++ {
					for s := 0; s < 100; s++ {
						r.add(seriesKey("dev/"+itoa(s)+"/state", "v"), c.ms(), float64(m))
					}
					c.add(time.Minute)
				}
				if err := r.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		q, _ := r.Query(Request{Topic: "dev/7/state", Field: "v", Range: "30d"})
		b.ReportMetric(float64(c.ms()-q.T[0])/float64(24*time.Hour.Milliseconds()), "days-kept")
	}
}

// BenchmarkMemory100 fills the raw tier of 100 quantities (an hour at one
// reading a second) and reports the heap it takes.
func BenchmarkMemory100(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := start()
		r := newRec(b, c, b.TempDir(), DefaultConfig())
		for i := 0; i < 3600; i++ {
			for s := 0; s < 100; s++ {
				r.add(seriesKey("dev/"+itoa(s)+"/state", "v"), c.ms(), float64(i))
			}
			c.add(time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
		runtime.KeepAlive(r)
	}
}

// BenchmarkQuery24h answers a 24 h query of one quantity from a week of
// 1-minute aggregates in the file.
func BenchmarkQuery24h(b *testing.B) {
	c := start()
	r := newRec(b, c, b.TempDir(), DefaultConfig())
	open(b, r)
	for h := 0; h < 7*24; h++ {
		for m := 0; m < 60; m++ {
			for s := 0; s < 100; s++ {
				r.add(seriesKey("dev/"+itoa(s)+"/state", "v"), c.ms(), float64(m))
			}
			c.add(time.Minute)
		}
		if err := r.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	req := []byte(`{"topic":"dev/42/state","field":"v","range":"24h"}`)
	all := func(string) bool { return true }
	b.ResetTimer()
	for range b.N {
		if len(r.Handle(req, all)) < 1440*10 {
			b.Fatal("short answer")
		}
	}
}

// BenchmarkTake10Filters is what recording adds to each message the
// broker takes, with 10 history filters: for a topic no filter matches
// (most of a busy broker's traffic) and for a recorded JSON reading.
func BenchmarkTake10Filters(b *testing.B) {
	r := newRec(b, start(), b.TempDir(), DefaultConfig())
	r.Watch("gw/sensors/+/state", "zigbee2mqtt/+", "devices/+/state", "shellies/+/relay/0", "tele/+/SENSOR",
		"home/+/+/temperature", "esphome/+/sensor/+/state", "rtl_433/+/events", "ble/+/state", "weather/#")
	b.Run("miss", func(b *testing.B) {
		p := []byte("0123456789abcdef0123456789abcdef")
		for range b.N {
			r.Take("mqttbench/run/p3", p)
		}
	})
	b.Run("binary", func(b *testing.B) { // matched, not a number: mqttbench's payloads
		p := []byte("\x00\x01\x02\x03binary-header-and-padding")
		for range b.N {
			r.Take("weather/station/raw", p)
		}
	})
	b.Run("reading", func(b *testing.B) {
		p := []byte(`{"temperature":21.5,"humidity":40,"battery":97,"linkquality":120}`)
		for range b.N {
			r.Take("zigbee2mqtt/hall", p)
		}
	})
}
