package csi

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func (d *Driver) startUpload(s *snapshotRecord) {
	rec := *s
	d.jobs.start("upload:"+s.Key, func(ctx context.Context) { d.runUpload(ctx, rec) })
}

// runUpload sends a cut to TSM and records the outcome. A cancelled upload records nothing:
// DeleteSnapshot cancels it and removes the record itself, and at shutdown the record stays
// "uploading" so the next start resumes it.
func (d *Driver) runUpload(ctx context.Context, s snapshotRecord) {
	start := time.Now()
	d.metrics.running.WithLabelValues("upload").Inc()
	defer d.metrics.running.WithLabelValues("upload").Dec()
	var res *tsm.Result
	err := d.withSlot(ctx, true, func() (err error) {
		res, err = d.upload(ctx, &s)
		return err
	})
	if ctx.Err() != nil {
		klog.InfoS("Upload interrupted", "snapshotID", s.ID, "reason", context.Cause(ctx))
		return
	}
	cur, lerr := d.loadSnapshot(s.Key)
	if lerr != nil || cur.ID != s.ID {
		return
	}
	if err != nil {
		cur.Phase, cur.ErrorCode, cur.Error, cur.Reported = phaseFailed, codeOf(err), err.Error(), false
		d.metrics.jobs.WithLabelValues("upload", "failed").Observe(time.Since(start).Seconds())
		klog.ErrorS(err, "Upload to TSM failed", "snapshotID", s.ID, "volumeID", s.SourceVolumeID)
	} else {
		cur.Phase, cur.ErrorCode, cur.Error = phaseReady, 0, ""
		d.metrics.jobs.WithLabelValues("upload", "ok").Observe(time.Since(start).Seconds())
		d.metrics.bytes.WithLabelValues("upload").Add(float64(res.Stats.BytesTransferred))
		klog.InfoS("Snapshot uploaded to TSM", "snapshotID", s.ID, "volumeID", s.SourceVolumeID,
			"bytesTransferred", res.Stats.BytesTransferred, "duration", time.Since(start).Round(time.Millisecond))
	}
	if err := d.snapshots.Put(cur.Key, cur); err != nil {
		klog.ErrorS(err, "Recording the upload result failed", "snapshotID", s.ID)
	}
}

// uploadSource is what dsmc reads: the cut, or the live backing file when there is no cut.
func (d *Driver) uploadSource(s *snapshotRecord) string {
	if s.Cut == cutLive {
		return d.backingFile(s.SourceVolumeID)
	}
	return d.cutFile(s.Key)
}

func (d *Driver) upload(ctx context.Context, s *snapshotRecord) (*tsm.Result, error) {
	src := d.uploadSource(s)
	if _, err := os.Stat(src); err != nil {
		return nil, errPrecondition("the point-in-time image of snapshot %s is gone: %v", s.ID, err)
	}
	dir, name := filepath.Split(s.Object)
	dir = filepath.Clean(dir)
	var res *tsm.Result
	var err error
	if s.Mode == tsm.ModeFile {
		if _, err := mount.CreateLink(dir, name, src); err != nil {
			return nil, wrap(err, "link %s", s.Object)
		}
		res, err = d.tsm.BackupFile(ctx, s.Object)
	} else {
		dev, aerr := mount.AttachLoop(ctx, src)
		if aerr != nil {
			return nil, wrap(aerr, "attach the cut of %s", s.ID)
		}
		if _, lerr := mount.CreateLink(dir, name, dev); lerr != nil {
			err = wrap(lerr, "link %s", s.Object)
		} else {
			res, err = d.tsm.BackupImage(ctx, s.Object)
		}
	}
	// Cancellation must not stop the cleanup; a failed upload starts from a new cut.
	if rerr := d.releaseUploadResources(context.WithoutCancel(ctx), s, err == nil || ctx.Err() == nil); rerr != nil && err == nil {
		err = rerr
	}
	return res, err
}

// releaseUploadResources removes the link and the loop device over the cut, and the cut file
// itself when dropCut is set. The volume's own device is never detached here.
func (d *Driver) releaseUploadResources(ctx context.Context, s *snapshotRecord, dropCut bool) error {
	dir, name := filepath.Split(s.Object)
	if err := mount.RemoveLink(filepath.Clean(dir), name); err != nil {
		return wrap(err, "remove link %s", s.Object)
	}
	if s.Cut == cutLive {
		return nil
	}
	cut := d.cutFile(s.Key)
	dev, err := mount.FindLoop(cut)
	if err != nil {
		return err
	}
	if dev != "" {
		if err := mount.DetachLoop(ctx, dev); err != nil {
			return wrap(err, "detach %s", dev)
		}
	}
	if dropCut {
		return removeIfExists(cut)
	}
	return nil
}

// liveUploadOf names a snapshot that is uploading straight from volume id's backing file, which
// must therefore not be removed yet; "" if there is none.
func (d *Driver) liveUploadOf(id string) string {
	keys, _ := d.snapshots.Keys()
	for _, k := range keys {
		if s, err := d.loadSnapshot(k); err == nil && s.SourceVolumeID == id && s.Cut == cutLive && s.Phase == phaseUploading {
			return s.ID
		}
	}
	return ""
}
