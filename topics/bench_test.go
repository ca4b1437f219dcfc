package topics

import "testing"

// The broker checks access rules with Match, Covers and Overlaps on every
// publish and delivery: they must not allocate.

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("+/sensors/+/state", "gw-1/sensors/env/state")
	}
}

func BenchmarkMatchHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("devices/bob/#", "devices/bob/kitchen/temperature")
	}
}

func BenchmarkCovers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Covers("devices/bob/#", "devices/bob/+/temperature")
	}
}

func BenchmarkOverlaps(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Overlaps("#", "gw-1/sensors/#")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		Match("$share/g/+/sensors/#", "gw-1/sensors/env/state")
		Covers("devices/bob/#", "devices/bob/+/t")
		Overlaps("#", "a/+")
		_ = CheckName("bob@example.com")
	})
	if n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}
