package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
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
	// A new restore owns this id: an outcome still held for a deleted predecessor of the same
	// name is not its own.
	d.outcomes.Delete(v.ID)
	if err := d.makeVolume(ctx, v, nil, phaseRestoring); err != nil {
		return err
	}
	// The loop device comes back when the restored file is in place.
	if err := d.detachVolume(ctx, v.ID); err != nil {
		_ = d.destroyVolume(context.WithoutCancel(ctx), v.ID)
		return err
	}
	d.launchRestore(v.ID, ref)
	return nil
}

// detachVolume detaches the loop device of a volume's backing file, if there is one.
func (d *Driver) detachVolume(ctx context.Context, id string) error {
	dev, err := d.loops.Find(d.backingFile(id))
	if err == nil && dev != "" {
		err = d.loops.Detach(ctx, dev)
	}
	return err
}

// restoreBackoff spaces the relaunches of a restore whose outcome could not be recorded, so
// that a full disk does not turn every CreateVolume retry into another attempt.
const (
	restoreBackoffMin = 5 * time.Second
	restoreBackoffMax = 5 * time.Minute
)

// restoreNow is the clock of that back-off; unit tests step it instead of sleeping.
var restoreNow = time.Now

// restoreOutcome is what a restore job ended with when the volume's record could not say it.
// It lives in memory only: after a restart the record (still "restoring") resumes the restore.
type restoreOutcome struct {
	err      error       // what CreateVolume reports, once
	restored bool        // the data is in place and attached: only the record is missing
	reported atomic.Bool // err has been answered
	next     time.Time   // no relaunch before this
	delay    time.Duration
}

func (d *Driver) heldOutcome(id string) *restoreOutcome {
	if o, ok := d.outcomes.Load(id); ok {
		return o.(*restoreOutcome)
	}
	return nil
}

func (d *Driver) launchRestore(id string, ref snapshotRef) {
	d.jobs.start("restore:"+id, func(ctx context.Context) { d.runRestore(ctx, id, ref) })
}

// runRestore restores the volume from TSM and records the result. A relaunch of a restore
// whose data is already in place only records it again: running dsmc a second time would need
// the volume's size once more on a file system that has just run out of space.
func (d *Driver) runRestore(ctx context.Context, id string, ref snapshotRef) {
	var err error
	if held := d.heldOutcome(id); held != nil && held.restored {
		_, err = d.device(ctx, id)
	} else {
		err = d.restoreFromTSM(ctx, id, ref)
	}
	if ctx.Err() != nil {
		klog.InfoS("Restore interrupted", "volumeID", id, "snapshotID", ref.Object)
		return
	}
	restored := err == nil
	to, change := phaseReady, func(*volumeRecord) {}
	if err != nil {
		if derr := d.removeVolumeData(context.WithoutCancel(ctx), id); derr != nil {
			klog.ErrorS(derr, "Removing the half-restored volume failed", "volumeID", id)
		}
		to = phaseFailed
		change = func(v *volumeRecord) { v.ErrorCode, v.Error = codeOf(err), err.Error() }
	}
	if _, serr := d.vols.move(id, id, phaseRestoring, to, change); serr != nil {
		if errors.Is(serr, errStaleRecord) || errors.Is(serr, state.ErrNotFound) {
			d.outcomes.Delete(id) // deleted or moved by someone else meanwhile: it no longer applies
			return
		}
		// Neither outcome can be recorded (a full state directory, say): keep it here, report
		// it once with its own code, and relaunch only after a back-off.
		if restored {
			err = wrap(serr, "record the restored volume %s", id)
		} else {
			err = newError(codeOf(err), err, "restore of volume %s failed", id)
		}
		o := d.holdOutcome(id, err, restored)
		klog.ErrorS(serr, "Recording the restore result failed; holding it", "volumeID", id, "restored", restored, "nextAttemptIn", o.delay)
		return
	}
	d.outcomes.Delete(id)
}

// restoreFromTSM runs the restore itself, with its metrics.
func (d *Driver) restoreFromTSM(ctx context.Context, id string, ref snapshotRef) error {
	start := time.Now()
	d.metrics.running.WithLabelValues("restore").Inc()
	defer d.metrics.running.WithLabelValues("restore").Dec()
	var res *tsm.Result
	err := d.withSlot(ctx, true, func() (err error) {
		res, err = d.restore(ctx, id, ref)
		return err
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		klog.ErrorS(err, "Restore from TSM failed", "volumeID", id, "object", ref.Object)
		d.metrics.jobs.WithLabelValues("restore", "failed").Observe(time.Since(start).Seconds())
		return err
	}
	d.metrics.jobs.WithLabelValues("restore", "ok").Observe(time.Since(start).Seconds())
	d.metrics.bytes.WithLabelValues("restore").Add(float64(res.Stats.BytesTransferred))
	klog.InfoS("Volume restored from TSM", "volumeID", id, "object", ref.Object,
		"bytesTransferred", res.Stats.BytesTransferred, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// holdOutcome keeps what a restore ended with until it can be recorded. Each hold in a row
// doubles the back-off, up to restoreBackoffMax; the same result again (same kind, same code)
// is not news, so it is not reported again.
func (d *Driver) holdOutcome(id string, err error, restored bool) *restoreOutcome {
	o := &restoreOutcome{err: err, restored: restored, delay: restoreBackoffMin}
	if prev := d.heldOutcome(id); prev != nil {
		o.delay = min(prev.delay*2, restoreBackoffMax)
		o.reported.Store(prev.reported.Load() && prev.restored == restored && codeOf(prev.err) == codeOf(err))
	}
	o.next = restoreNow().Add(o.delay)
	d.outcomes.Store(id, o)
	return o
}

// answer is what CreateVolume says of a held outcome: the outcome itself the first time, then
// ABORTED (the relaunch is pending) until the back-off has passed, then nil: relaunch.
func (o *restoreOutcome) answer(id string) error {
	if !o.reported.Swap(true) {
		return o.err
	}
	if wait := o.next.Sub(restoreNow()); wait > 0 {
		wait = (wait + time.Second - 1).Truncate(time.Second) // never "in 0s" while it waits
		return errAborted("restore of volume %s: its result could not be recorded (%v); next attempt in %s", id, o.err, wait)
	}
	return nil
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
	// A relaunch finds the volume attached by the run before it (in an earlier process, say):
	// that loop device holds the old file's inode, which the rename would leave it holding,
	// deleted, out of every later Find, with its space.
	if err := d.detachVolume(ctx, id); err != nil {
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
		d.metrics.observeVerification("unverified")
		return snapID, nil, nil
	}
	m, err := fetchMeta(ctx, c, d.codec.metaObject(ref), d.tmpDir())
	switch {
	case errors.Is(err, errNoMeta):
		klog.InfoS("Snapshot has no metadata object in TSM (taken before digests were stored); restoring unverified", "volumeID", volumeID, "snapshotID", snapID)
		d.metrics.observeVerification("unverified")
		return snapID, nil, nil
	case errors.Is(err, catalog.ErrFormat):
		d.metrics.observeVerification("mismatch")
		return "", nil, &dataLossError{snapID, err}
	case err != nil:
		return "", nil, wrap(err, "read the metadata of snapshot %s", snapID)
	case m.SnapshotID != snapID || m.SizeBytes != ref.SizeBytes:
		d.metrics.observeVerification("mismatch")
		return "", nil, &dataLossError{snapID, fmt.Errorf("%w: it describes snapshot %s of %d bytes", catalog.ErrFormat, m.SnapshotID, m.SizeBytes)}
	case m.Digest == nil:
		klog.InfoS("Snapshot has no digest (read from a live volume, or taken with --snapshot-digests=false); restoring unverified", "volumeID", volumeID, "snapshotID", snapID)
		d.metrics.observeVerification("unverified")
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
			d.metrics.observeVerification("mismatch")
			return &dataLossError{snapID, verr}
		}
		return wrap(verr, "verify the restored data of %s", snapID)
	}
	d.metrics.observeVerification("ok")
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
		if cur.Phase == phaseRestoring {
			if o := d.heldOutcome(v.ID); o != nil {
				if err := o.answer(v.ID); err != nil {
					return nil, err
				}
			}
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
	case phaseRestoring:
		// The job ended and its record does not say how: the outcome is held, and this call,
		// which waited for it, is the one to hear it.
		if o := d.heldOutcome(v.ID); o != nil && !d.jobs.running(key) {
			if err := o.answer(v.ID); err != nil {
				return nil, err
			}
		}
	}
	return nil, errAborted("volume %s is being restored from TSM", v.ID)
}
