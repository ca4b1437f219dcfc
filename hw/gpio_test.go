package hw

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestGPIOInEdgesAndDebounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
		s, err := NewGPIOIn("door", pin, "up", "both", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		var got []float64
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- s.Watch(ctx, func(r Reading) { got = append(got, values(r)["state"]) })
		}()
		step := func() { time.Sleep(time.Second); synctest.Wait() }

		step() // initial level: pulled up
		pin.EdgesChan <- gpio.Low
		step() // a clean press
		pin.EdgesChan <- gpio.High
		pin.EdgesChan <- gpio.Low
		pin.EdgesChan <- gpio.High
		step() // a bouncy release: one change
		pin.EdgesChan <- gpio.Low
		pin.EdgesChan <- gpio.High
		step() // a glitch back to the same level: no change
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []float64{1, 0, 1}
		if len(got) != len(want) || got[0] != 1 || got[1] != 0 || got[2] != 1 {
			t.Fatalf("states %v, want %v", got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGPIOInRisingCountsEveryEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "GPIO22", Num: 22, EdgesChan: make(chan gpio.Level), Clock: clockwork.NewRealClock()}
		s, err := NewGPIOIn("pir", pin, "down", "rising", -1)
		if err != nil {
			t.Fatal(err)
		}
		var edges []float64
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- s.Watch(ctx, func(r Reading) { edges = append(edges, values(r)["edges_count"]) })
		}()
		for range 3 {
			pin.EdgesChan <- gpio.High
			time.Sleep(time.Second)
			synctest.Wait()
		}
		cancel()
		<-done
		if len(edges) != 4 || edges[3] != 3 {
			t.Fatalf("edges_count sequence %v, want [0 1 2 3]", edges)
		}
	})
}

func TestGPIOOutActiveLow(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO27", Num: 27}
	a, err := NewGPIOOut("relay", pin, true, Off)
	if err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High {
		t.Fatal("active-low relay off should drive the pin high")
	}
	if err := a.Set(context.Background(), On); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low || a.State() != On {
		t.Fatalf("after Set(on): pin %s, state %s", pin.Read(), a.State())
	}
}
