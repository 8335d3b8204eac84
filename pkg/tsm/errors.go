package tsm

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Error describes a dsmc run that did not succeed. Every string in it has
// been redacted: it never contains the password, so it can be logged and
// returned to a CSI caller as is.
type Error struct {
	Op       string    // the dsmc command, e.g. "backup image"
	Args     []string  // the argv after the binary, redacted
	RC       int       // dsmc's return code; -1 if it did not exit normally
	Messages []Message // every ANS message found on stdout and stderr
	Kind     Kind
	Detail   string // what this package concluded and why
	Output   string // the last part of stdout+stderr, redacted

	err error // the underlying cause (a context error), for errors.Is
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dsmc ")
	if e.Op != "" {
		b.WriteString(e.Op)
	} else {
		b.WriteString("run")
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	b.WriteString(" (rc ")
	b.WriteString(strconv.Itoa(e.RC))
	b.WriteString(")")
	seen := map[string]bool{}
	first := true
	for _, m := range e.Messages {
		line := m.ID
		if m.Text != "" {
			line += " " + m.Text
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		if first {
			b.WriteString(": ")
			first = false
		} else {
			b.WriteString("; ")
		}
		b.WriteString(line)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// Unwrap exposes a context error behind a timeout or cancellation.
func (e *Error) Unwrap() error { return e.err }

// KindOf returns the Kind of err. Bare context errors map to KindTimeout and
// KindCanceled so that callers can classify errors that never reached dsmc.
func KindOf(err error) Kind {
	if err == nil {
		return KindUnknown
	}
	var te *Error
	if errors.As(err, &te) {
		return te.Kind
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, context.Canceled):
		return KindCanceled
	}
	return KindUnknown
}

// IsNotFound reports whether err says that no object on the server matches.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == KindNotFound }
