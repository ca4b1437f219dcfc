package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// stage is one step of the shutdown: parts that stop together, after the
// stage before them, each within the stage's timeout.
type stage struct {
	ctx     context.Context
	stop    context.CancelFunc
	timeout time.Duration
	wg      sync.WaitGroup
}

func newStage(parent context.Context, timeout time.Duration) *stage {
	ctx, stop := context.WithCancel(parent)
	return &stage{ctx: ctx, stop: stop, timeout: timeout}
}

// goPart runs fn in eg with the stage's context. Once that is cancelled,
// it waits at most the stage's timeout for fn and then returns an error
// naming the part (whose goroutine ends with the process).
func (s *stage) goPart(eg *errgroup.Group, name string, fn func(context.Context) error) {
	s.wg.Add(1)
	eg.Go(func() error {
		defer s.wg.Done()
		done := make(chan error, 1)
		go func() { done <- fn(s.ctx) }()
		select {
		case err := <-done:
			return err
		case <-s.ctx.Done():
		}
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		select {
		case err := <-done:
			return err
		case <-t.C:
			return fmt.Errorf("%s did not stop within %v", name, s.timeout)
		}
	})
}

// stopAndWait cancels the stage and waits until its parts have returned.
func (s *stage) stopAndWait() {
	s.stop()
	s.wg.Wait()
}
