package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFreezeThaw(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	for _, fsType := range []string{"ext4", "xfs"} {
		t.Run(fsType, func(t *testing.T) {
			size := 64 * mib
			if fsType == "xfs" {
				size = xfsMinSize
			}
			_, _, mnt := scratchFS(t, fsType, size)
			if err := Freeze(ctx, mnt); err != nil {
				t.Fatal(err)
			}
			thawed := false
			t.Cleanup(func() {
				if !thawed {
					_ = Thaw(ctx, mnt)
				}
			})
			if err := Freeze(ctx, mnt); err != nil {
				t.Errorf("Freeze of a frozen filesystem: %v", err)
			}

			w := startBlockedWriter(t, filepath.Join(mnt, "written-while-frozen"))
			select {
			case err := <-w.done:
				t.Fatalf("write finished on a frozen filesystem (err %v)", err)
			default:
			}

			if err := Thaw(ctx, mnt); err != nil {
				t.Fatal(err)
			}
			thawed = true
			select {
			case err := <-w.done:
				if err != nil {
					t.Fatalf("write after thaw: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("write still blocked 30s after thaw")
			}
			if b, err := os.ReadFile(filepath.Join(mnt, "written-while-frozen")); err != nil || string(b) != "payload" {
				t.Errorf("written file: %q, %v", b, err)
			}
			if err := Thaw(ctx, mnt); err != nil {
				t.Errorf("Thaw of a thawed filesystem: %v", err)
			}
		})
	}
}

type blockedWriter struct {
	done chan error
}

// startBlockedWriter writes path from a goroutine locked to its own thread
// and returns once that thread sleeps uninterruptibly in the kernel, which
// is where a write to a frozen filesystem waits.
func startBlockedWriter(tb testing.TB, path string) blockedWriter {
	tb.Helper()
	w := blockedWriter{done: make(chan error, 1)}
	tid := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		w.done <- os.WriteFile(path, []byte("payload"), 0o600)
	}()
	id := <-tid
	err := waitFor(context.Background(), 10*time.Second, func() (bool, error) {
		select {
		case err := <-w.done:
			w.done <- err // leave it for the caller
			return true, nil
		default:
		}
		state, err := threadState(id)
		return state == "D", err
	})
	if err != nil {
		tb.Fatalf("writer never blocked: %v", err)
	}
	return w
}

// threadState is the scheduler state letter of a thread of this process.
func threadState(tid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return "", err
	}
	// The command name in parentheses may contain spaces; the state follows
	// the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+3 > len(b) {
		return "", fmt.Errorf("unexpected stat line %q", b)
	}
	return string(b[i+2]), nil
}

func TestFreezeRefusesNonMountPoints(t *testing.T) {
	requireRoot(t)
	_, dev, mnt := scratchFS(t, "ext4", 64*mib)
	sub := filepath.Join(mnt, "sub")
	blockTarget := filepath.Join(t.TempDir(), "block")
	if err := MakeFile(blockTarget); err != nil {
		t.Fatal(err)
	}
	cmd(t, "mount", "--bind", dev, blockTarget)
	unmountAll(t, blockTarget)
	if err := os.Mkdir(sub, 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		// Freezing these would freeze the filesystem containing them.
		{"plain directory", t.TempDir(), ErrNotMountPoint},
		{"directory inside a mount", sub, ErrNotMountPoint},
		{"missing", filepath.Join(t.TempDir(), "missing"), os.ErrNotExist},
		{"filesystem not on a loop device", "/dev", ErrNotLoopDevice},
		{"bind-mounted device node", blockTarget, unix.ENOTDIR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Freeze(context.Background(), tc.path); !errors.Is(err, tc.want) {
				t.Errorf("Freeze: %v, want %v", err, tc.want)
			}
			if err := Thaw(context.Background(), tc.path); !errors.Is(err, tc.want) {
				t.Errorf("Thaw: %v, want %v", err, tc.want)
			}
		})
	}
	// The filesystem is still writable.
	if err := os.WriteFile(filepath.Join(mnt, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFreezeCancelledContext(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Freeze(ctx, mnt); !errors.Is(err, context.Canceled) {
		t.Fatalf("Freeze with cancelled ctx: %v", err)
	}
	// Not frozen: a write completes.
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(filepath.Join(mnt, "f"), nil, 0o600) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		_ = Thaw(context.Background(), mnt)
		t.Fatal("filesystem frozen despite the cancelled Freeze")
	}
}

// A Freeze abandoned because its ctx ended must not leave the filesystem
// frozen once the kernel finishes the freeze. Dirty data makes the freeze
// slow enough for a short deadline to expire first; if the kernel wins the
// race instead, the filesystem is frozen as asked and is thawed here.
func TestFreezeAbandonedThaws(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	if err := os.WriteFile(filepath.Join(mnt, "dirty"), randomBytes(t, 16*mib), 0o600); err != nil {
		t.Fatal(err)
	}
	resolved := make(chan struct{})
	abandonedFreezeResolved = func() { close(resolved) }
	t.Cleanup(func() { abandonedFreezeResolved = nil })

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := Freeze(ctx, mnt)
	switch {
	case err == nil:
		t.Log("freeze finished before the deadline")
		if err := Thaw(context.Background(), mnt); err != nil {
			t.Fatal(err)
		}
	case errors.Is(err, context.DeadlineExceeded):
		select {
		case <-resolved:
		case <-time.After(60 * time.Second):
			t.Fatal("abandoned freeze never resolved")
		}
	default:
		t.Fatalf("Freeze: %v", err)
	}

	w := make(chan error, 1)
	go func() { w <- os.WriteFile(filepath.Join(mnt, "after"), []byte("x"), 0o600) }()
	select {
	case err := <-w:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		_ = Thaw(context.Background(), mnt)
		<-w //nolint:errcheck // only waits for the writer; the test fails on the timeout
		t.Fatal("filesystem left frozen after an abandoned Freeze")
	}
}
