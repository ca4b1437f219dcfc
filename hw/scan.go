package hw

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/host/v3/gpioioctl"
)

// Scan writes what hardware this host offers, for `mqttgate hw scan`: the
// I²C buses with the addresses that answer (a 1-byte read, like
// i2cdetect -r), the 1-Wire buses with their devices (periph's and the
// kernel's w1 sysfs view), and the GPIO chips. It initialises periph's
// host drivers. A bus that cannot be opened is reported and skipped;
// Scan returns an error only when nothing can be scanned at all or w
// fails.
func (o *Opener) Scan(w io.Writer) error {
	if err := o.initHost(); err != nil {
		return fmt.Errorf("hw: scan: %w", err)
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }

	refs := i2creg.All()
	p("I2C buses: %d\n", len(refs))
	for _, ref := range refs {
		p("  %s (number %d, aliases %s)\n", ref.Name, ref.Number, strings.Join(ref.Aliases, ","))
		bus, err := ref.Open()
		if err != nil {
			p("    cannot open: %v\n", err)
			continue
		}
		var found []string
		var buf [1]byte
		for addr := uint16(0x03); addr <= 0x77; addr++ {
			if bus.Tx(addr, nil, buf[:]) == nil {
				found = append(found, fmt.Sprintf("%#02x%s", addr, i2cHint(addr)))
			}
		}
		_ = bus.Close()
		if len(found) == 0 {
			p("    no device answers\n")
		} else {
			p("    answering: %s\n", strings.Join(found, " "))
		}
	}

	owRefs := onewirereg.All()
	p("1-Wire buses: %d\n", len(owRefs))
	for _, ref := range owRefs {
		p("  %s\n", ref.Name)
		bus, err := ref.Open()
		if err != nil {
			p("    cannot open: %v\n", err)
			continue
		}
		addrs, err := bus.Search(false)
		_ = bus.Close()
		if err != nil {
			p("    search failed: %v\n", err)
			continue
		}
		for _, a := range addrs {
			p("    rom: %#016x (family %#02x)\n", uint64(a), byte(a))
		}
	}
	w1, _ := filepath.Glob(filepath.Join(or(o.SysRoot, "/sys"), "bus/w1/devices/*-*"))
	sort.Strings(w1)
	if len(w1) > 0 {
		p("1-Wire devices (kernel w1):\n")
		for _, d := range w1 {
			p("  rom: %s\n", filepath.Base(d))
		}
	}

	p("GPIO chips: %d\n", len(gpioioctl.Chips))
	for _, c := range gpioioctl.Chips {
		p("  %s %q: %d lines (pin names such as GPIO17 work with gpio-in/gpio-out)\n", c.Name(), c.Label(), c.LineCount())
	}
	if _, err := os.Stat("/dev/gpiomem"); err == nil {
		p("  /dev/gpiomem present (Raspberry Pi)\n")
	}
	_, err := fmt.Fprintln(w, "done")
	return err
}

func i2cHint(addr uint16) string {
	switch addr {
	case 0x76, 0x77:
		return "(bme280/bmp280?)"
	}
	return ""
}

// Scan is (&Opener{}).Scan(w): a scan of the real /sys.
func Scan(w io.Writer) error {
	var o Opener
	return o.Scan(w)
}
