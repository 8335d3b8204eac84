package mount

import (
	"context"
	"fmt"
	"time"
)

// waitFor polls cond with a growing interval until it reports true, cond
// fails, ctx ends or limit passes. It exists for state changes the kernel
// does not announce, such as a loop device being released on last close.
func waitFor(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	interval := 5 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-timer.C:
		}
		done, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		timer.Reset(interval)
		if interval < 200*time.Millisecond {
			interval *= 2
		}
	}
}
