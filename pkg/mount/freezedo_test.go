package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writable fails the test unless a write to dir completes; a frozen file system would block
// it, so the bound is generous and only reached on failure.
func writable(t *testing.T, dir, name string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		_ = thaw(dir)
		<-done //nolint:errcheck // only waits for the writer; the test fails on the timeout
		t.Fatalf("%s is still frozen", dir)
	}
}

func TestFrozenDo(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	var inside bool
	frozen, err := FrozenDo(context.Background(), mnt, time.Minute, func(ctx context.Context) error {
		// A second freeze finds it frozen already.
		froze, err := freeze(ctx, mnt)
		inside = err == nil && !froze
		return err
	})
	if err != nil || !inside || frozen <= 0 {
		t.Fatalf("FrozenDo = %v, %v; frozen inside fn: %v", frozen, err, inside)
	}
	writable(t, mnt, "after")

	want := errors.New("cut failed")
	if _, err := FrozenDo(context.Background(), mnt, time.Minute, func(context.Context) error { return want }); !errors.Is(err, want) {
		t.Fatalf("FrozenDo passed on %v, want %v", err, want)
	}
	writable(t, mnt, "after-error")
}

// TestFrozenDoTimeout: fn ignores its context and hangs; the file system is thawed at the
// limit while fn still runs, and the result is ErrFreezeTimeout.
func TestFrozenDoTimeout(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	started := make(chan struct{})
	release := make(chan struct{})
	type result struct {
		frozen time.Duration
		err    error
	}
	res := make(chan result, 1)
	limit := 300 * time.Millisecond
	go func() {
		f, err := FrozenDo(context.Background(), mnt, limit, func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		res <- result{f, err}
	}()
	<-started
	// Blocks while frozen; completes only once FrozenDo thawed at the limit, fn still hanging.
	writable(t, mnt, "during")
	select {
	case r := <-res:
		t.Fatalf("FrozenDo returned before fn did: %v", r.err)
	default:
	}
	close(release)
	r := <-res
	if !errors.Is(r.err, ErrFreezeTimeout) {
		t.Fatalf("FrozenDo: %v, want ErrFreezeTimeout", r.err)
	}
	if r.frozen < limit {
		t.Errorf("frozen %v, less than the limit %v", r.frozen, limit)
	}
	writable(t, mnt, "after")
}

// TestFrozenDoCancelled: the caller's context ends while fn runs; the thaw still happens.
func TestFrozenDoCancelled(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := FrozenDo(ctx, mnt, time.Minute, func(fctx context.Context) error {
		cancel()
		<-fctx.Done()
		return fctx.Err()
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFreezeTimeout) {
		t.Fatalf("FrozenDo: %v, want context.Canceled", err)
	}
	writable(t, mnt, "after")
}

// TestThawLeftover: a freeze made by another process (as by a driver killed during a cut) is
// thawed; nothing to thaw is not an error.
func TestThawLeftover(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	cmd(t, "fsfreeze", "-f", mnt)
	t.Cleanup(func() { _ = thaw(mnt) })
	was, err := ThawLeftover(mnt)
	if err != nil || !was {
		t.Fatalf("ThawLeftover = %v, %v; want true", was, err)
	}
	writable(t, mnt, "after")
	if was, err := ThawLeftover(mnt); err != nil || was {
		t.Fatalf("second ThawLeftover = %v, %v; want false, nil", was, err)
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "gone"), t.TempDir()} {
		if was, err := ThawLeftover(p); err != nil || was {
			t.Errorf("ThawLeftover(%s) = %v, %v; want false, nil", p, was, err)
		}
	}
}
