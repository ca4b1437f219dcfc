package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sync/errgroup"
)

// TestStageOrderAndTimeout: stages stop one after the other, and a part
// that ignores its context costs its stage's timeout, then an error that
// names it, not a hang.
func TestStageOrderAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eg, ectx := errgroup.WithContext(context.Background())
		first := newStage(ectx, 8*time.Second)
		second := newStage(context.Background(), 15*time.Second)
		var order []string
		first.goPart(eg, "polite", func(ctx context.Context) error {
			<-ctx.Done()
			order = append(order, "polite")
			return nil
		})
		stuck := make(chan struct{})
		defer close(stuck)
		first.goPart(eg, "stuck", func(ctx context.Context) error {
			<-stuck
			return nil
		})
		second.goPart(eg, "broker", func(ctx context.Context) error {
			<-ctx.Done()
			order = append(order, "broker")
			return nil
		})
		start := time.Now()
		eg.Go(func() error {
			<-ectx.Done()
			first.stopAndWait()
			second.stopAndWait()
			return nil
		})
		eg.Go(func() error { return errors.New("a part failed") })
		err := eg.Wait()
		if err == nil || err.Error() != "a part failed" {
			t.Errorf("Wait = %v, want the first error", err)
		}
		if got := strings.Join(order, ","); got != "polite,broker" {
			t.Errorf("stop order %s, want polite,broker", got)
		}
		if d := time.Since(start); d != 8*time.Second {
			t.Errorf("stopping took %v, want the first stage's 8s timeout", d)
		}
	})
}

// TestStagePartError: a part's timeout error names the part.
func TestStagePartError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var eg errgroup.Group
		s := newStage(context.Background(), time.Second)
		block := make(chan struct{})
		defer close(block)
		s.goPart(&eg, "http", func(context.Context) error { <-block; return nil })
		s.stopAndWait()
		if err := eg.Wait(); err == nil || err.Error() != "http did not stop within 1s" {
			t.Errorf("Wait = %v", err)
		}
	})
}
