package hw

import (
	"context"
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// Transactions recorded from a BME280 at 0x76 (the same recording periph's
// bmxx80 tests use), with DefaultOpts: 4x oversampling, forced mode.
func bme280Ops(chipID byte) []i2ctest.IO {
	ops := []i2ctest.IO{
		// Chip id.
		{Addr: 0x76, W: []byte{0xd0}, R: []byte{chipID}},
		// Calibration t1..t3, p1..p9, h1.
		{Addr: 0x76, W: []byte{0x88}, R: []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}},
	}
	if chipID == 0x60 {
		// Calibration h2..h6, then ctrl_meas, ctrl_hum, config, ctrl_meas.
		ops = append(ops,
			i2ctest.IO{Addr: 0x76, W: []byte{0xe1}, R: []byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e}},
			i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf2, 0x3, 0xf5, 0xa0, 0xf4, 0x6c}})
	} else {
		ops = append(ops, i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf5, 0xa0, 0xf4, 0x6c}})
	}
	meas := []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0}
	if chipID == 0x60 {
		meas = append(meas, 0x7a, 0x76)
	}
	return append(ops,
		// Forced mode, status busy then idle, burst read.
		i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6d}},
		i2ctest.IO{Addr: 0x76, W: []byte{0xf3}, R: []byte{8}},
		i2ctest.IO{Addr: 0x76, W: []byte{0xf3}, R: []byte{0}},
		i2ctest.IO{Addr: 0x76, W: []byte{0xf7}, R: meas},
	)
}

func values(r Reading) map[string]float64 {
	m := map[string]float64{}
	for _, q := range r.Values {
		m[q.Key()] = q.Value
	}
	return m
}

func TestBME280Read(t *testing.T) {
	bus := &i2ctest.Playback{Ops: bme280Ops(0x60), DontPanic: true}
	s, err := NewBMX280("env", DriverBME280, bus, 0x76)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"temperature_c": 23.72, "humidity_pct": 65.31, "pressure_hpa": 1009.43}
	if got := values(r); len(got) != 3 || got["temperature_c"] != want["temperature_c"] || got["humidity_pct"] != want["humidity_pct"] || got["pressure_hpa"] != want["pressure_hpa"] {
		t.Fatalf("reading %v, want %v", got, want)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBMP280Read(t *testing.T) {
	bus := &i2ctest.Playback{Ops: bme280Ops(0x58), DontPanic: true}
	s, err := NewBMX280("baro", DriverBMP280, bus, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := values(r)
	if len(got) != 2 || got["temperature_c"] != 23.72 || got["pressure_hpa"] != 1009.43 {
		t.Fatalf("reading %v", got)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBME280ConfiguredButBMP280Found(t *testing.T) {
	bus := &i2ctest.Playback{Ops: bme280Ops(0x58)[:3], DontPanic: true}
	_, err := NewBMX280("env", DriverBME280, bus, 0x76)
	if err == nil || !strings.Contains(err.Error(), "set driver: bmp280") {
		t.Fatalf("err = %v, want a hint to use bmp280", err)
	}
}

// nackBus answers like a chip that stops acknowledging at transaction
// failAt, as Linux's i2c-dev reports it.
type nackBus struct {
	*i2ctest.Playback
	failAt int
}

var errNACK = errors.New("sysfs-i2c: remote I/O error")

func (b *nackBus) Tx(addr uint16, w, r []byte) error {
	b.Lock()
	n := b.Count
	b.Unlock()
	if n == b.failAt {
		return errNACK
	}
	return b.Playback.Tx(addr, w, r)
}

func TestBME280NACKMidRead(t *testing.T) {
	ops := bme280Ops(0x60)
	bus := &nackBus{Playback: &i2ctest.Playback{Ops: ops, DontPanic: true}, failAt: len(ops) - 1}
	s, err := NewBMX280("env", DriverBME280, bus, 0x76)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(context.Background())
	if err == nil {
		t.Fatal("read succeeded despite the NACK")
	}
	for _, want := range []string{`bme280 "env"`, "0x76", "read", "remote I/O error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if bus.Count != len(ops)-1 {
		t.Errorf("consumed %d transactions, want %d", bus.Count, len(ops)-1)
	}
}

func TestBME280NACKAtOpen(t *testing.T) {
	bus := &nackBus{Playback: &i2ctest.Playback{Ops: bme280Ops(0x60), DontPanic: true}, failAt: 1}
	_, err := NewBMX280("env", DriverBME280, bus, 0x76)
	if err == nil || !strings.Contains(err.Error(), `bme280 "env" at 0x76`) || !strings.Contains(err.Error(), "remote I/O error") {
		t.Fatalf("err = %v", err)
	}
}
