package csi

import (
	"context"
	"errors"
	"os"
	"time"

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
func (d *Driver) cut(ctx context.Context, v *volumeRecord, dst string, allowLive bool) (string, time.Time, error) {
	src := d.backingFile(v.ID)
	staged, err := d.stagedAt(v.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	if staged != "" {
		if err := mount.Freeze(ctx, staged); err != nil {
			return "", time.Time{}, wrap(err, "freeze %s", staged)
		}
		defer func() {
			if err := mount.Thaw(context.WithoutCancel(ctx), staged); err != nil {
				klog.ErrorS(err, "Thaw failed", "volumeID", v.ID, "path", staged)
			}
		}()
	}
	if err := d.flushDevice(v.ID); err != nil {
		return "", time.Time{}, err
	}
	at := time.Now().UTC()
	err = mount.Reflink(src, dst)
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
	if err := mount.SparseCopy(ctx, src, dst); err != nil {
		return "", time.Time{}, wrap(err, "copy volume %s", v.ID)
	}
	return cutCopied, at, nil
}

func (d *Driver) flushDevice(id string) error {
	dev, err := mount.FindLoop(d.backingFile(id))
	if err != nil || dev == "" {
		return err
	}
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	return wrap(f.Sync(), "flush %s", dev)
}
