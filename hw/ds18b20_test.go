package hw

import (
	"context"
	"strings"
	"testing"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewiretest"
)

const testROM = onewire.Address(0x740000070e41ac28) // 28-0000070e41ac

// scratchpad returns a DS18B20 scratchpad at 12-bit resolution holding
// raw (1/16 °C), with its CRC.
func scratchpad(raw int16) []byte {
	b := []byte{byte(raw), byte(raw >> 8), 0x4b, 0x46, 0x7f, 0xff, 0x01, 0x10, 0}
	b[8] = onewire.CalcCRC(b[:8])
	return b
}

func ds18b20Ops(spad []byte) []onewiretest.IO {
	match := []byte{0x55, 0x28, 0xac, 0x41, 0x0e, 0x07, 0x00, 0x00, 0x74}
	read := append(append([]byte{}, match...), 0xbe)
	conv := append(append([]byte{}, match...), 0x44)
	return []onewiretest.IO{
		{W: read, R: scratchpad(0x0550)}, // at open: resolution already 12 bits
		{W: conv, Pull: onewire.StrongPullup},
		{W: read, R: spad},
	}
}

func TestParseROMLinuxForm(t *testing.T) {
	a, err := ParseROM("28-0000070e41ac")
	if err != nil || a != testROM {
		t.Fatalf("ParseROM = %#x, %v; want %#x", uint64(a), err, uint64(testROM))
	}
	if a, err := ParseROM("0x740000070e41ac28"); err != nil || a != testROM {
		t.Fatalf("ParseROM hex = %#x, %v", uint64(a), err)
	}
	if _, err := ParseROM("0x750000070e41ac28"); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("bad CRC accepted: %v", err)
	}
}

func TestDS18B20Read(t *testing.T) {
	bus := &onewiretest.Playback{Ops: ds18b20Ops(scratchpad(344)), DontPanic: true} // 21.5 °C
	s, err := NewDS18B20("tank", bus, testROM)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := values(r); len(got) != 1 || got["temperature_c"] != 21.5 {
		t.Fatalf("reading %v, want temperature_c 21.5", got)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDS18B20NegativeAndErrors(t *testing.T) {
	cases := []struct {
		name string
		spad []byte
		want string // value or error text
	}{
		{"negative", scratchpad(-162), "-10.12"}, // -10.125 °C
		{"no conversion", scratchpad(85 * 16), "has not performed a temperature conversion"},
		{"gone", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "did not respond"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bus := &onewiretest.Playback{Ops: ds18b20Ops(c.spad), DontPanic: true}
			s, err := NewDS18B20("tank", bus, testROM)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Read(context.Background())
			if c.name == "negative" {
				if err != nil || values(r)["temperature_c"] != -10.13 && values(r)["temperature_c"] != -10.12 {
					t.Fatalf("reading %v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `ds18b20 "tank"`) {
				t.Fatalf("err = %v, want %q naming the sensor", err, c.want)
			}
		})
	}
}
