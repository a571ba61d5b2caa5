package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// interruptedError is the cause of a command's context when the user
// stopped it with SIGINT (^C) or SIGTERM. It is a context.Canceled, so the
// work in progress ends as on any cancellation, and it tells the reporters
// to say "interrupted" once instead of "context canceled" for every file.
type interruptedError struct{ sig syscall.Signal }

func (e *interruptedError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "interrupted (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}

func (e *interruptedError) Is(target error) bool { return target == context.Canceled }

// exitStatus is what a shell reports for a process the signal ended: 128
// plus the signal's number (130 for ^C).
func (e *interruptedError) exitStatus() int { return 128 + int(e.sig) }

// withInterrupt returns a context that is cancelled, with an
// *interruptedError as its cause, on the first SIGINT or SIGTERM. After
// that first signal the default handling is back, so a second ^C ends the
// process at once. stop releases the signal handling.
func withInterrupt(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			sig, _ := s.(syscall.Signal)
			cancel(&interruptedError{sig: sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// interruption returns the signal that cancelled ctx, or nil.
func interruption(ctx context.Context) *interruptedError {
	var ie *interruptedError
	if errors.As(context.Cause(ctx), &ie) {
		return ie
	}
	return nil
}
