package tsm

import (
	"context"
	"time"
)

// Runner executes one dsmc process. ExecRunner is the real implementation;
// tests substitute a fake to script dsmc's answers.
type Runner interface {
	Run(ctx context.Context, inv Invocation) (Output, error)
}

// Invocation is one dsmc run.
type Invocation struct {
	Binary string
	Args   []string
	// Stdin is the secret prompt answer, if any. It is never logged nor put
	// into an error. nil means stdin is /dev/null.
	Stdin []byte
	// Timeout bounds the run in addition to the context's deadline; 0 means
	// no extra bound.
	Timeout time.Duration
	// MaxOutput, when set, bounds each of stdout and stderr instead of the
	// runner's own limit: a query's rows are all needed.
	MaxOutput int
}

// Output is what a dsmc run produced. A non-zero RC is not an error of the
// Runner: judging it is the Client's job.
type Output struct {
	// RC is the exit status, or -1 when the process did not exit by itself
	// (killed by a signal, never started).
	RC             int
	Stdout, Stderr string
	Duration       time.Duration
	// StdoutDropped counts the bytes of stdout that did not fit the limit
	// and were left out of Stdout (its middle, where a marker line says so).
	StdoutDropped int64
}
