package csi

import (
	"context"
	"errors"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// How a snapshot's point-in-time image was made.
const (
	cutReflink = "reflink"
	cutCopied  = "copy"
	cutLive    = "live"
)

// cut makes dst a point-in-time image of volume v's backing file and returns how and when.
// A mounted file system is frozen around the cut so that the image is file-system consistent;
// the volume's device is flushed first so that writes buffered in the block device's cache are
// in the backing file. Where the state directory cannot reflink, the configured fallback
// applies; allowLive lets the caller accept "no cut, use the live device" (cutLive, dst not made).
func (d *Driver) cut(ctx context.Context, v *volumeRecord, dst string, allowLive bool) (how string, at time.Time, err error) {
	staged, err := d.stagedAt(v.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	if staged == "" {
		return d.cutUnfrozen(ctx, v, dst, allowLive)
	}
	err = d.frozen(ctx, []frozenMount{{volumeID: v.ID, path: staged}}, func(fctx context.Context) error {
		var cerr error
		how, at, cerr = d.cutUnfrozen(fctx, v, dst, allowLive)
		return cerr
	})
	if errors.Is(err, mount.ErrFreezeTimeout) {
		_ = removeIfExists(dst)
		err = d.errFreezeTimeout(err, "the cut of volume "+v.ID)
	}
	if err != nil {
		return "", time.Time{}, err
	}
	return how, at, nil
}

// frozenMount is a mounted file system that a cut freezes.
type frozenMount struct {
	volumeID string
	path     string
}

// frozen runs fn while every file system of mounts is frozen. Each freeze is recorded before it
// is applied, so that a driver killed while a file system is frozen thaws it at its next start
// instead of leaving every writer hanging. The freezes nest, each inner one under the deadline
// of the outer ones, so that all of them are thawed at --max-freeze after the first one began,
// however far fn got; fn's context ends then.
func (d *Driver) frozen(ctx context.Context, mounts []frozenMount, fn func(ctx context.Context) error) error {
	if len(mounts) == 0 {
		return fn(ctx)
	}
	m := mounts[0]
	if err := d.freezes.Put(m.volumeID, freezeRecord{VolumeID: m.volumeID, Path: m.path}); err != nil {
		return wrap(err, "record the freeze of %s", m.volumeID)
	}
	held, err := mount.FrozenDo(ctx, m.path, d.opts.MaxFreeze, func(fctx context.Context) error {
		return d.frozen(fctx, mounts[1:], fn)
	})
	d.metrics.frozen.Observe(held.Seconds())
	klog.InfoS("File system frozen for a cut", "volumeID", m.volumeID, "path", m.path, "frozen", held.Round(time.Microsecond))
	if derr := d.freezes.Delete(m.volumeID); derr != nil && err == nil {
		err = derr
	}
	return err
}

// errFreezeTimeout reports a cut abandoned at --max-freeze.
func (d *Driver) errFreezeTimeout(err error, what string) error {
	return newError(codes.FailedPrecondition, err, "%s needed the file system frozen longer than --max-freeze=%s, so it was abandoned and the file system thawed; put the state directory on xfs or btrfs, where a cut is a reflink that takes milliseconds", what, d.opts.MaxFreeze)
}

// freezeRecord names a file system the driver froze; start-up thaws each one it finds.
type freezeRecord struct {
	VolumeID string `json:"volumeID"`
	Path     string `json:"path"`
}

// thawLeftovers thaws what a killed earlier run of the driver may have left frozen.
func (d *Driver) thawLeftovers() error {
	keys, err := d.freezes.Keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		var rec freezeRecord
		if err := d.freezes.Get(k, &rec); err != nil {
			klog.ErrorS(err, "Unreadable freeze record", "volumeID", k)
		} else if was, err := mount.ThawLeftover(rec.Path); err != nil {
			return wrap(err, "thaw %s left frozen by an earlier run", rec.Path)
		} else if was {
			klog.InfoS("Thawed a file system an earlier run left frozen", "volumeID", rec.VolumeID, "path", rec.Path)
		}
		if err := d.freezes.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) cutUnfrozen(ctx context.Context, v *volumeRecord, dst string, allowLive bool) (string, time.Time, error) {
	src := d.backingFile(v.ID)
	if err := d.flushDevice(v.ID); err != nil {
		return "", time.Time{}, err
	}
	at := time.Now().UTC()
	err := mount.Reflink(src, dst)
	if err == nil {
		return cutReflink, at, nil
	}
	if !errors.Is(err, mount.ErrReflinkUnsupported) {
		return "", time.Time{}, wrap(err, "reflink volume %s", v.ID)
	}
	switch {
	case d.opts.CutFallback == CutLive && allowLive:
		klog.InfoS("WARNING: the state directory cannot reflink; backing up the live device, the backup is not point-in-time", "volumeID", v.ID)
		return cutLive, at, nil
	case d.opts.CutFallback == CutFail:
		return "", time.Time{}, errPrecondition("the state directory %s cannot reflink and --cut-fallback=fail", d.opts.StateDir)
	}
	// A copy takes as many blocks as the volume has written: promised space, like a volume's.
	fi, err := os.Stat(src)
	if err != nil {
		return "", time.Time{}, err
	}
	release, err := d.reserveSpace(allocated(fi))
	if err != nil {
		return "", time.Time{}, err
	}
	defer release()
	if err := mount.SparseCopy(ctx, src, dst); err != nil {
		_ = removeIfExists(dst)
		return "", time.Time{}, wrap(err, "copy volume %s", v.ID)
	}
	return cutCopied, at, nil
}

func (d *Driver) flushDevice(id string) error {
	dev, err := d.loops.Find(d.backingFile(id))
	if err != nil || dev == "" {
		return err
	}
	return wrap(d.loops.Flush(dev), "flush %s", dev)
}
