package csi

import (
	"context"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// startRestore records the new volume as "restoring" and starts dsmc in the background.
// Image restores write into the volume's loop device; file restores write a file next to the
// backing file that replaces it when complete (dsmc may replace a file by a new inode, which must
// not happen under an attached loop device).
func (d *Driver) startRestore(ctx context.Context, v *volumeRecord, ref snapshotRef) error {
	if err := d.makeVolume(ctx, v, nil, phaseRestoring); err != nil {
		return err
	}
	if ref.Mode == tsm.ModeFile {
		// The loop device comes back when the restored file is in place.
		dev, err := mount.FindLoop(d.backingFile(v.ID))
		if err == nil && dev != "" {
			err = mount.DetachLoop(ctx, dev)
		}
		if err != nil {
			d.destroyVolume(context.WithoutCancel(ctx), v.ID)
			return err
		}
	}
	d.launchRestore(v.ID, ref)
	return nil
}

func (d *Driver) launchRestore(id string, ref snapshotRef) {
	d.jobs.start("restore:"+id, func(ctx context.Context) { d.runRestore(ctx, id, ref) })
}

func (d *Driver) runRestore(ctx context.Context, id string, ref snapshotRef) {
	start := time.Now()
	d.metrics.running.WithLabelValues("restore").Inc()
	defer d.metrics.running.WithLabelValues("restore").Dec()
	var res *tsm.Result
	err := d.withSlot(ctx, true, func() (err error) {
		res, err = d.restore(ctx, id, ref)
		return err
	})
	if ctx.Err() != nil {
		klog.InfoS("Restore interrupted", "volumeID", id, "snapshotID", ref.Object)
		return
	}
	v, lerr := d.loadVolume(id)
	if lerr != nil {
		return
	}
	if err != nil {
		klog.ErrorS(err, "Restore from TSM failed", "volumeID", id, "object", ref.Object)
		d.metrics.jobs.WithLabelValues("restore", "failed").Observe(time.Since(start).Seconds())
		if derr := d.destroyVolume(context.WithoutCancel(ctx), id); derr != nil {
			klog.ErrorS(derr, "Removing the half-restored volume failed", "volumeID", id)
		}
		v.Phase, v.ErrorCode, v.Error = phaseFailed, codeOf(err), err.Error()
	} else {
		v.Phase = phaseReady
		d.metrics.jobs.WithLabelValues("restore", "ok").Observe(time.Since(start).Seconds())
		d.metrics.bytes.WithLabelValues("restore").Add(float64(res.Stats.BytesTransferred))
		klog.InfoS("Volume restored from TSM", "volumeID", id, "object", ref.Object,
			"bytesTransferred", res.Stats.BytesTransferred, "duration", time.Since(start).Round(time.Millisecond))
	}
	if err := d.saveVolume(v); err != nil {
		klog.ErrorS(err, "Recording the restore result failed", "volumeID", id)
	}
}

func (d *Driver) restore(ctx context.Context, id string, ref snapshotRef) (*tsm.Result, error) {
	c := d.clientFor(ref.Owner)
	file := d.backingFile(id)
	if ref.Mode != tsm.ModeFile {
		dev, err := d.device(ctx, id)
		if err != nil {
			return nil, err
		}
		// After a crash the dsmc of the interrupted restore may still be exiting with the
		// device open; the new restore must be the only writer.
		if err := mount.WaitExclusive(ctx, dev, time.Minute); err != nil {
			return nil, err
		}
		return c.RestoreImage(ctx, ref.Object, dev)
	}
	tmp := file + ".restore"
	if err := removeIfExists(tmp); err != nil {
		return nil, err
	}
	res, err := c.RestoreFile(ctx, ref.Object, tmp)
	if err != nil {
		removeIfExists(tmp)
		return nil, err
	}
	size, err := mount.FileSize(file)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, err
	}
	if err := mount.GrowFile(file, size); err != nil {
		return nil, err
	}
	if _, err := d.device(ctx, id); err != nil {
		return nil, err
	}
	return res, nil
}

// awaitRestore waits for the restore of v as long as the caller's deadline allows (less a
// margin to answer in), then answers ABORTED, which the provisioner retries.
func (d *Driver) awaitRestore(ctx context.Context, v *volumeRecord) (*csi.CreateVolumeResponse, error) {
	key := "restore:" + v.ID
	if !d.jobs.running(key) {
		cur, err := d.loadVolume(v.ID)
		if err != nil {
			return nil, err
		}
		if cur.Phase == phaseRestoring {
			ref, err := d.codec.decode(cur.SourceSnapshot)
			if err != nil {
				return nil, err
			}
			d.launchRestore(v.ID, ref)
		}
	}
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-time.Second))
		defer cancel()
	}
	if !d.jobs.wait(wctx, key) {
		return nil, errAborted("volume %s is being restored from TSM", v.ID)
	}
	cur, err := d.loadVolume(v.ID)
	if err != nil {
		return nil, err
	}
	switch cur.Phase {
	case phaseReady:
		return &csi.CreateVolumeResponse{Volume: d.csiVolume(cur)}, nil
	case phaseFailed:
		if err := d.volumes.Delete(cur.ID); err != nil {
			return nil, err
		}
		return nil, newError(cur.ErrorCode, nil, "restore of volume %s failed: %s", cur.ID, cur.Error)
	}
	return nil, errAborted("volume %s is being restored from TSM", v.ID)
}
