package tsm

import (
	"context"
	"sync"
)

// fakeRunner is the second Runner: it records every invocation and answers
// with whatever the test scripted, so the Client can be tested without a
// process.
type fakeRunner struct {
	mu      sync.Mutex
	calls   []Invocation
	respond func(inv Invocation) (Output, error)
}

func (f *fakeRunner) Run(ctx context.Context, inv Invocation) (Output, error) {
	f.mu.Lock()
	cp := inv
	cp.Args = append([]string(nil), inv.Args...)
	if inv.Stdin != nil {
		cp.Stdin = append([]byte(nil), inv.Stdin...)
	}
	f.calls = append(f.calls, cp)
	f.mu.Unlock()
	if f.respond == nil {
		return Output{}, nil
	}
	return f.respond(inv)
}

func (f *fakeRunner) last() Invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return Invocation{}
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeRunner) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// answer returns a responder that always prints out with return code rc.
func answer(rc int, stdout, stderr string) func(Invocation) (Output, error) {
	return func(Invocation) (Output, error) { return Output{RC: rc, Stdout: stdout, Stderr: stderr}, nil }
}
