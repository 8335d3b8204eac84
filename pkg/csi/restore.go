package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// startRestore records the new volume as "restoring" and starts dsmc in the background. Both
// modes restore into a file next to the backing file, which replaces it once complete and
// flushed: an image restored onto a device would lose its first sector (IBM: the client keeps
// the destination's volume control block; -imagetofile restores everything), and dsmc may
// replace a file by a new inode, which must not happen under an attached loop device.
func (d *Driver) startRestore(ctx context.Context, v *volumeRecord, ref snapshotRef) error {
	if err := d.makeVolume(ctx, v, nil, phaseRestoring); err != nil {
		return err
	}
	// The loop device comes back when the restored file is in place.
	dev, err := d.loops.Find(d.backingFile(v.ID))
	if err == nil && dev != "" {
		err = d.loops.Detach(ctx, dev)
	}
	if err != nil {
		_ = d.destroyVolume(context.WithoutCancel(ctx), v.ID)
		return err
	}
	d.launchRestore(v.ID, ref)
	return nil
}

// restoreBackoff spaces the relaunches of a restore whose outcome could not be recorded or
// that a crash interrupted, so that a full disk does not turn every CreateVolume retry into
// another run of dsmc.
const (
	restoreBackoffMin = 5 * time.Second
	restoreBackoffMax = 5 * time.Minute
)

// restoreOutcome is what a restore job ended with when its record could not say it.
type restoreOutcome struct {
	err      error
	reported bool
	next     time.Time // no relaunch before this
	delay    time.Duration
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
	to, change := phaseReady, func(*volumeRecord) {}
	if err != nil {
		klog.ErrorS(err, "Restore from TSM failed", "volumeID", id, "object", ref.Object)
		d.metrics.jobs.WithLabelValues("restore", "failed").Observe(time.Since(start).Seconds())
		if derr := d.removeVolumeData(context.WithoutCancel(ctx), id); derr != nil {
			klog.ErrorS(derr, "Removing the half-restored volume failed", "volumeID", id)
		}
		to = phaseFailed
		change = func(v *volumeRecord) { v.ErrorCode, v.Error = codeOf(err), err.Error() }
	} else {
		d.metrics.jobs.WithLabelValues("restore", "ok").Observe(time.Since(start).Seconds())
		d.metrics.bytes.WithLabelValues("restore").Add(float64(res.Stats.BytesTransferred))
		klog.InfoS("Volume restored from TSM", "volumeID", id, "object", ref.Object,
			"bytesTransferred", res.Stats.BytesTransferred, "duration", time.Since(start).Round(time.Millisecond))
	}
	if _, serr := d.vols.move(id, id, phaseRestoring, to, change); serr != nil {
		if errors.Is(serr, errStaleRecord) || errors.Is(serr, state.ErrNotFound) {
			return // deleted or moved by someone else meanwhile: this outcome no longer applies
		}
		// Neither outcome can be recorded (a full state directory, say): keep it here, report
		// it once with its own code, and relaunch only after a back-off.
		klog.ErrorS(serr, "Recording the restore result failed", "volumeID", id)
		if err == nil {
			err = wrap(serr, "record the restored volume %s", id)
		}
		d.holdOutcome(id, err)
		return
	}
	d.outcomes.Delete(id)
}

func (d *Driver) holdOutcome(id string, err error) {
	o := &restoreOutcome{err: err, delay: restoreBackoffMin}
	if prev, ok := d.outcomes.Load(id); ok {
		o.delay = min(prev.(*restoreOutcome).delay*2, restoreBackoffMax)
	}
	o.next = time.Now().Add(o.delay)
	d.outcomes.Store(id, o)
}

func (d *Driver) restore(ctx context.Context, id string, ref snapshotRef) (*tsm.Result, error) {
	c := d.clientFor(ref.Owner)
	v, err := d.loadVolume(id)
	if err != nil {
		return nil, err
	}
	file := d.backingFile(id)
	tmp := file + ".restore"
	if err := removeIfExists(tmp); err != nil {
		return nil, err
	}
	// The digest is fetched first: a damaged description fails the restore before any data moves.
	snapID, digest, err := d.restoreDigest(ctx, c, id, ref)
	if err != nil {
		return nil, err
	}
	var res *tsm.Result
	if ref.Mode == tsm.ModeFile {
		res, err = c.RestoreFile(ctx, ref.Object, tmp)
	} else {
		res, err = c.RestoreImageToFile(ctx, ref.Object, tmp)
	}
	if err == nil {
		err = d.checkAndVerify(ctx, id, snapID, tmp, v.SizeBytes, digest)
	}
	if err != nil {
		_ = removeIfExists(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, err
	}
	// The size comes from the record, never from what happens to be on disk.
	if err := mount.GrowFile(file, v.SizeBytes); err != nil {
		return nil, err
	}
	if _, err := d.device(ctx, id); err != nil {
		return nil, err
	}
	return res, nil
}

// restoreDigest reads the digest of the snapshot ref names from its metadata object; nil (and
// a log line saying why) when the restore goes unverified.
func (d *Driver) restoreDigest(ctx context.Context, c *tsm.Client, volumeID string, ref snapshotRef) (string, *catalog.Digest, error) {
	snapID, err := d.codec.encode(ref)
	if err != nil {
		return "", nil, err
	}
	if d.opts.NoVerify {
		klog.InfoS("Restore not verified (--verify-restores=false)", "volumeID", volumeID, "snapshotID", snapID)
		return snapID, nil, nil
	}
	m, err := fetchMeta(ctx, c, d.codec.metaObject(ref), d.tmpDir())
	switch {
	case errors.Is(err, errNoMeta):
		klog.InfoS("Snapshot has no metadata object in TSM (taken before digests were stored); restoring unverified", "volumeID", volumeID, "snapshotID", snapID)
		return snapID, nil, nil
	case errors.Is(err, catalog.ErrFormat):
		return "", nil, &dataLossError{snapID, err}
	case err != nil:
		return "", nil, wrap(err, "read the metadata of snapshot %s", snapID)
	case m.SnapshotID != snapID || m.SizeBytes != ref.SizeBytes:
		return "", nil, &dataLossError{snapID, fmt.Errorf("%w: it describes snapshot %s of %d bytes", catalog.ErrFormat, m.SnapshotID, m.SizeBytes)}
	case m.Digest == nil:
		klog.InfoS("Snapshot has no digest (read from a live volume, or taken with --snapshot-digests=false); restoring unverified", "volumeID", volumeID, "snapshotID", snapID)
	}
	return snapID, m.Digest, nil
}

// checkAndVerify flushes the restored file and, at the same time, hashes it against digest
// (when there is one): the flush waits on the disk, the hash on the CPU, and both read the pages
// dsmc just wrote. A volume that fails here was never handed out: no loop device exists yet.
func (d *Driver) checkAndVerify(ctx context.Context, volumeID, snapID, tmp string, size int64, digest *catalog.Digest) error {
	if digest == nil {
		return checkRestored(tmp, size)
	}
	// The digest covers the snapshot's size; a restore may end early where the image ends in
	// a hole, which reads as zeros, as the grown volume will.
	if fi, err := os.Stat(tmp); err != nil {
		return err
	} else if fi.Size() < digest.Size && fi.Size() > 0 {
		if err := os.Truncate(tmp, digest.Size); err != nil {
			return err
		}
	}
	start := time.Now()
	verified := make(chan error, 1)
	go func() { verified <- catalog.Verify(ctx, tmp, digest, 0) }()
	cerr := checkRestored(tmp, size)
	verr := <-verified
	if cerr != nil {
		return cerr
	}
	if verr != nil {
		var mm *catalog.MismatchError
		if errors.As(verr, &mm) || errors.Is(verr, catalog.ErrFormat) {
			return &dataLossError{snapID, verr}
		}
		return wrap(verr, "verify the restored data of %s", snapID)
	}
	klog.InfoS("Restored data verified against the snapshot's digest", "volumeID", volumeID, "snapshotID", snapID,
		"bytes", digest.Size, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// dataLossError: the data TSM gave back is not what was backed up, or its description is damaged.
type dataLossError struct {
	snapshotID string
	err        error
}

func (e *dataLossError) Error() string {
	return fmt.Sprintf("restore of snapshot %s refused, the volume was not created: %v", e.snapshotID, e.err)
}

func (e *dataLossError) Unwrap() error { return e.err }

// checkRestored flushes a restored file and checks that it is whole before it may replace the
// backing file: dsmc's return code does not cover the kernel's write-back, and a full disk
// shows up only here.
func checkRestored(file string, want int64) error {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return wrap(err, "open the restored data")
	}
	defer func() { _ = f.Close() }() // after a successful Sync nothing is left to lose
	if err := f.Sync(); err != nil {
		return wrap(err, "flush the restored data")
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 || fi.Size() > want {
		return errPrecondition("the restored data has %d bytes, the volume %d", fi.Size(), want)
	}
	return nil
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
		if o, held := d.outcomes.Load(v.ID); held && cur.Phase == phaseRestoring {
			o := o.(*restoreOutcome)
			if !o.reported {
				o.reported = true
				return nil, o.err
			}
			if time.Now().Before(o.next) {
				return nil, newError(codeOf(o.err), o.err, "restore of volume %s: waiting %s before the next attempt", v.ID, time.Until(o.next).Round(time.Second))
			}
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
		if err := d.vols.remove(cur.ID, cur.ID); err != nil {
			return nil, err
		}
		return nil, newError(cur.ErrorCode, nil, "restore of volume %s failed: %s", cur.ID, cur.Error)
	}
	return nil, errAborted("volume %s is being restored from TSM", v.ID)
}
