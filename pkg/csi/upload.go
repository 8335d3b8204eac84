package csi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// startUpload runs the upload of s in the background; the caller holds the book's lock.
func (d *Driver) startUpload(s *snapshotRecord) {
	rec := *s
	d.jobs.start("upload:"+s.Key, func(ctx context.Context) { d.runUpload(ctx, rec) })
}

// runUpload sends the cut to TSM, proves that TSM holds it, and records the outcome. A failed
// run keeps the cut, so the next run (started by a retried CreateSnapshot) sends the same point
// in time. A cancelled run records nothing: DeleteSnapshot cancels it and removes the record
// itself, and at shutdown the record stays "uploading" so the next start resumes it.
func (d *Driver) runUpload(ctx context.Context, s snapshotRecord) {
	start := time.Now()
	d.metrics.running.WithLabelValues("upload").Inc()
	defer d.metrics.running.WithLabelValues("upload").Dec()
	if s.Cut != cutLive {
		if _, err := os.Stat(d.cutFile(s.Key)); errors.Is(err, os.ErrNotExist) {
			d.loseSnapshot(&s, "its point-in-time image is gone from "+d.cutDir)
			return
		}
	}
	var res *tsm.Result
	err := d.withSlot(ctx, true, func() error {
		var digest *catalog.Digest
		if s.DataStored {
			var err error
			if digest, err = d.dataStored(ctx, &s); err != nil {
				return err
			}
		} else {
			r, dg, err := d.upload(ctx, &s)
			if err != nil {
				return err
			}
			res, digest = r, dg
			if err := d.tsm.Verify(ctx, s.Mode, s.Object, s.SizeBytes, start); err != nil {
				return err
			}
			// Noted so that a failure to store the small metadata object does not make the
			// next run send the whole volume again. Not noted (a full state directory): it does.
			d.noteDataStored(&s, true)
		}
		// Ready only once the description is stored too: a ready snapshot always restores
		// verified (unless it was read live, which its metadata says).
		return d.storeSnapshotMeta(ctx, &s, digest)
	})
	if ctx.Err() != nil {
		klog.InfoS("Upload interrupted", "snapshotID", s.ID, "reason", context.Cause(ctx))
		return
	}
	if err != nil {
		d.metrics.jobs.WithLabelValues("upload", "failed").Observe(time.Since(start).Seconds())
		klog.ErrorS(err, "Upload to TSM failed; the cut is kept for the next attempt", "snapshotID", s.ID, "volumeID", s.SourceVolumeID)
		_, merr := d.snaps.move(s.Key, s.ID, snapUploading, snapUploading, func(cur *snapshotRecord) {
			cur.ErrorCode, cur.Error, cur.Reported = codeOf(err), err.Error(), false
			cur.Attempts++
		})
		if merr != nil && !errors.Is(merr, errStaleRecord) && !errors.Is(merr, state.ErrNotFound) {
			klog.ErrorS(merr, "Recording the upload failure failed", "snapshotID", s.ID)
		}
		return
	}
	_, merr := d.snaps.move(s.Key, s.ID, snapUploading, snapReady, func(cur *snapshotRecord) {
		cur.ErrorCode, cur.Error, cur.Reported = 0, "", false
	})
	if merr != nil {
		if !errors.Is(merr, errStaleRecord) && !errors.Is(merr, state.ErrNotFound) {
			klog.ErrorS(merr, "Recording the upload result failed; the upload is repeated at the next call", "snapshotID", s.ID)
		}
		return
	}
	var sent int64
	if res != nil {
		sent = res.Stats.BytesTransferred
	}
	d.metrics.jobs.WithLabelValues("upload", "ok").Observe(time.Since(start).Seconds())
	d.metrics.bytes.WithLabelValues("upload").Add(float64(sent))
	d.metrics.observeBackup(s.SourceVolumeID, s.CreatedAt)
	klog.InfoS("Snapshot uploaded to TSM and verified", "snapshotID", s.ID, "volumeID", s.SourceVolumeID,
		"bytesTransferred", sent, "duration", time.Since(start).Round(time.Millisecond))
	// Ready is recorded before the cut goes: a crash in between leaves an orphan cut that the
	// next start removes, never a ready snapshot whose upload could be repeated from nothing.
	if err := d.releaseUploadResources(context.WithoutCancel(ctx), &s, true); err != nil {
		klog.ErrorS(err, "Releasing the uploaded cut failed; it is removed at the next start", "snapshotID", s.ID)
	}
}

// dataStored is a run whose data an earlier run already stored and verified, and whose metadata
// object failed: it checks that TSM still holds the data (or notes that it must be sent again)
// and computes the digest of the cut anew, without sending anything.
func (d *Driver) dataStored(ctx context.Context, s *snapshotRecord) (*catalog.Digest, error) {
	if err := d.tsm.Verify(ctx, s.Mode, s.Object, s.SizeBytes, s.CreatedAt); err != nil {
		if tsm.KindOf(err) == tsm.KindUnverified {
			d.noteDataStored(s, false)
		}
		return nil, err
	}
	if s.Cut == cutLive || d.opts.NoDigest {
		return nil, nil
	}
	digest, err := catalog.Sum(ctx, d.cutFile(s.Key), s.SizeBytes, 0)
	if err != nil {
		return nil, wrap(err, "digest of the cut of %s", s.ID)
	}
	return digest, nil
}

func (d *Driver) noteDataStored(s *snapshotRecord, stored bool) {
	_, err := d.snaps.move(s.Key, s.ID, snapUploading, snapUploading, func(cur *snapshotRecord) { cur.DataStored = stored })
	if err != nil {
		klog.ErrorS(err, "Recording whether TSM holds the snapshot's data failed", "snapshotID", s.ID, "dataStored", stored)
		return
	}
	s.DataStored = stored
}

// loseSnapshot fails a snapshot for good: its cut is gone, and a new cut would hold a later
// point in time than the one CreateSnapshot answered.
func (d *Driver) loseSnapshot(s *snapshotRecord, why string) {
	klog.ErrorS(nil, "Snapshot can never be completed", "snapshotID", s.ID, "reason", why)
	_, err := d.snaps.move(s.Key, s.ID, snapUploading, snapLost, func(cur *snapshotRecord) {
		cur.ErrorCode, cur.Error, cur.Reported = codes.FailedPrecondition, why, false
	})
	if err != nil && !errors.Is(err, errStaleRecord) && !errors.Is(err, state.ErrNotFound) {
		klog.ErrorS(err, "Recording the lost snapshot failed", "snapshotID", s.ID)
	}
}

// uploadSource is what dsmc reads: the cut, or the live backing file when there is no cut.
func (d *Driver) uploadSource(s *snapshotRecord) string {
	if s.Cut == cutLive {
		return d.backingFile(s.SourceVolumeID)
	}
	return d.cutFile(s.Key)
}

// upload sends the cut to TSM and, at the same time, computes its digest: the second reader of
// the cut is served from the page cache that dsmc fills, so the digest costs a core, not a read.
// A live upload has no digest (nil): the data changes while dsmc reads it. Nor has an upload
// with --snapshot-digests=false.
func (d *Driver) upload(ctx context.Context, s *snapshotRecord) (*tsm.Result, *catalog.Digest, error) {
	src := d.uploadSource(s)
	var digest *catalog.Digest
	var derr error
	hashed := make(chan struct{})
	hctx, stopHash := context.WithCancel(ctx)
	defer stopHash()
	if s.Cut == cutLive || d.opts.NoDigest {
		close(hashed)
	} else {
		go func() {
			defer close(hashed)
			// One core: dsmc needs the other one on a small node.
			digest, derr = catalog.Sum(hctx, src, s.SizeBytes, 1)
		}()
	}
	res, err := d.send(ctx, s, src)
	if err != nil {
		stopHash()
	}
	<-hashed
	if err != nil {
		return nil, nil, err
	}
	if derr != nil {
		return nil, nil, wrap(derr, "digest of the cut of %s", s.ID)
	}
	return res, digest, nil
}

func (d *Driver) send(ctx context.Context, s *snapshotRecord, src string) (*tsm.Result, error) {
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
		dev, aerr := d.loops.Attach(ctx, src)
		if aerr != nil {
			return nil, wrap(aerr, "attach the cut of %s", s.ID)
		}
		if _, lerr := mount.CreateLink(dir, name, dev); lerr != nil {
			err = wrap(lerr, "link %s", s.Object)
		} else {
			res, err = d.tsm.BackupImage(ctx, s.Object)
		}
	}
	// Cancellation must not stop the cleanup. The cut itself stays until TSM holds it.
	if rerr := d.releaseUploadResources(context.WithoutCancel(ctx), s, false); rerr != nil && err == nil {
		err = rerr
	}
	return res, err
}

// storeSnapshotMeta stores the snapshot's metadata object in TSM beside its backup.
func (d *Driver) storeSnapshotMeta(ctx context.Context, s *snapshotRecord, digest *catalog.Digest) error {
	ref, err := d.codec.decode(s.ID)
	if err != nil {
		return err
	}
	m := &catalog.Meta{
		Version: catalog.Version, SnapshotID: s.ID, SourceVolumeID: s.SourceVolumeID, SizeBytes: s.SizeBytes,
		AccessType: s.Access, FSType: s.FSType, Mode: string(s.Mode), CreationTime: s.CreatedAt.UTC(),
		Node: d.opts.NodeID, DriverName: d.opts.DriverName, DriverVersion: d.opts.Version,
		Kubernetes: s.Kube, Group: s.Group, Digest: digest,
	}
	if err := storeMeta(ctx, d.tsm, d.codec.metaObject(ref), m); err != nil {
		return wrap(err, "store the metadata object of %s", s.ID)
	}
	return nil
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
	dev, err := d.loops.Find(cut)
	if err != nil {
		return err
	}
	if dev != "" {
		if err := d.loops.Detach(ctx, dev); err != nil {
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
	keys, _ := d.snaps.keys()
	for _, k := range keys {
		if s, err := d.loadSnapshot(k); err == nil && s.SourceVolumeID == id && s.Cut == cutLive && s.Phase == snapUploading {
			return s.ID
		}
	}
	return ""
}
