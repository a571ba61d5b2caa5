//go:build unix

package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// SIGTERM cancels the context withInterrupt returns, with a cause that
// names the signal, counts as context.Canceled, and gives the shell's exit
// status for it.
func TestInterruptSignal(t *testing.T) {
	ctx, stop := withInterrupt(context.Background())
	defer stop()
	if interruption(ctx) != nil {
		t.Fatal("interrupted before any signal")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	ie := interruption(ctx)
	if ie == nil {
		t.Fatalf("cause %v, want an interruptedError", context.Cause(ctx))
	}
	if got := ie.Error(); got != "interrupted (SIGTERM)" {
		t.Errorf("Error() = %q", got)
	}
	if got := ie.exitStatus(); got != 143 {
		t.Errorf("exit status %d, want 143", got)
	}
	if !errors.Is(context.Cause(ctx), context.Canceled) || errorCode(ctx.Err()) != "interrupted" {
		t.Error("the interruption is not a cancellation")
	}
	if got := runError(ctx, errors.New("context canceled")); got != error(ie) {
		t.Errorf("runError = %v, want the interruption", got)
	}
}

// stop without a signal leaves no interruption behind.
func TestInterruptStop(t *testing.T) {
	ctx, stop := withInterrupt(context.Background())
	stop()
	<-ctx.Done()
	if ie := interruption(ctx); ie != nil {
		t.Errorf("interruption %v after a plain stop", ie)
	}
}
