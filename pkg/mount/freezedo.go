package mount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// ErrFreezeTimeout means a file system stayed frozen for the longest time allowed and was
// thawed before the work done under the freeze finished; that work's result is not
// point-in-time and must be thrown away.
var ErrFreezeTimeout = errors.New("file system frozen for too long")

// FrozenDo freezes the file system mounted at mountPath, runs fn, and thaws it as soon as fn
// returns or limit has passed since the freeze began, whichever comes first: every write of
// the volume's users waits while it is frozen, so a slow cut must not hold them beyond limit.
// fn's context ends at the limit (or with ctx). When the limit passes first, FrozenDo thaws
// at once, still waits for fn to return (so that nothing it does outlives the call), discards
// its result and returns an error wrapping ErrFreezeTimeout. The thaw happens however ctx
// ends. frozen is how long writes were held. A file system already frozen by someone else is
// left frozen: its thaw belongs to whoever froze it.
func FrozenDo(ctx context.Context, mountPath string, limit time.Duration, fn func(ctx context.Context) error) (frozen time.Duration, err error) {
	start := time.Now()
	fctx, cancel := context.WithTimeoutCause(ctx, limit, ErrFreezeTimeout)
	defer cancel()
	froze, err := freeze(fctx, mountPath)
	if err != nil {
		// An abandoned freeze is thawed by Freeze itself once the kernel finishes it.
		return time.Since(start), err
	}
	// A failed thaw is reported: the caller must not report success while every writer of
	// the volume hangs.
	thawNow := func() (time.Duration, error) {
		if !froze {
			return time.Since(start), nil
		}
		err := thaw(mountPath)
		return time.Since(start), err
	}
	done := make(chan error, 1)
	go func() { done <- fn(fctx) }()
	select {
	case err := <-done:
		frozen, terr := thawNow()
		if terr != nil {
			return frozen, terr
		}
		return frozen, err
	case <-fctx.Done():
		frozen, terr := thawNow()
		<-done //nolint:errcheck // only waits for fn to return; the deadline is the error reported
		if terr != nil {
			return frozen, terr
		}
		cause := context.Cause(fctx)
		if errors.Is(cause, ErrFreezeTimeout) {
			klog.InfoS("Thawed file system at the freeze limit; the work under the freeze is abandoned", "mountPath", mountPath, "limit", limit)
			return frozen, fmt.Errorf("%s frozen for %v: %w", mountPath, limit, ErrFreezeTimeout)
		}
		return frozen, fmt.Errorf("frozen work on %s: %w", mountPath, cause)
	}
}

// ThawLeftover thaws the file system at mountPath if an earlier process (a driver killed
// during a cut) left it frozen, and reports whether it was frozen. A path that is gone or no
// longer a mount point has nothing to thaw. Only file systems on loop devices are touched.
func ThawLeftover(mountPath string) (wasFrozen bool, err error) {
	f, err := openMountRoot(mountPath)
	if errors.Is(err, ErrNotMountPoint) || errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("thaw leftover freeze: %w", err)
	}
	defer func() { _ = f.Close() }()
	err = unix.IoctlSetInt(int(f.Fd()), ioctlFITHAW, 0)
	if errors.Is(err, unix.EINVAL) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("thaw leftover freeze of %s: %w", mountPath, err)
	}
	klog.InfoS("Thawed a file system left frozen by an earlier process", "mountPath", mountPath)
	return true, nil
}
