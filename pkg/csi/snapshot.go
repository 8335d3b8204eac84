package csi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// ModeParameter is the VolumeSnapshotClass parameter that picks image or file backups.
const ModeParameter = "mode"

type snapshotRecord struct {
	Key            string        `json:"key"`
	Name           string        `json:"name"`
	ID             string        `json:"id"`
	SourceVolumeID string        `json:"sourceVolumeID"`
	Mode           tsm.Mode      `json:"mode"`
	Object         string        `json:"object"`
	SizeBytes      int64         `json:"sizeBytes"`
	CreatedAt      time.Time     `json:"createdAt"`
	Phase          snapshotPhase `json:"phase"`
	Cut            string        `json:"cut,omitempty"`
	ErrorCode      codes.Code    `json:"errorCode,omitempty"`
	Error          string        `json:"error,omitempty"`
	Reported       bool          `json:"reported,omitempty"` // Error was answered to a CreateSnapshot
	Attempts       int           `json:"attempts,omitempty"` // upload runs that failed
	// What the metadata object in TSM tells about the snapshot besides the id.
	Access string           `json:"access,omitempty"`
	FSType string           `json:"fsType,omitempty"`
	Kube   *catalog.KubeRef `json:"kube,omitempty"`
	Group  string           `json:"group,omitempty"` // the name of the volume group snapshot it is a member of
	// DataStored: TSM holds a verified version of the cut; only the metadata object is missing.
	DataStored bool `json:"dataStored,omitempty"`
}

// Parameters csi-snapshotter passes with --extra-create-metadata.
const (
	paramSnapshotName      = "csi.storage.k8s.io/volumesnapshot/name"
	paramSnapshotNamespace = "csi.storage.k8s.io/volumesnapshot/namespace"
	paramSnapshotContent   = "csi.storage.k8s.io/volumesnapshotcontent/name"
)

func kubeRefOf(params map[string]string) *catalog.KubeRef {
	r := &catalog.KubeRef{
		VolumeSnapshotName:      params[paramSnapshotName],
		VolumeSnapshotNamespace: params[paramSnapshotNamespace],
		VolumeSnapshotContent:   params[paramSnapshotContent],
	}
	if *r == (catalog.KubeRef{}) {
		return nil
	}
	return r
}

func (d *Driver) cutFile(key string) string { return filepath.Join(d.cutDir, key+".img") }

func (d *Driver) loadSnapshot(key string) (*snapshotRecord, error) { return d.snaps.get(key) }

func (d *Driver) csiSnapshot(id, source string, size int64, created time.Time, ready bool) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId: id, SourceVolumeId: source, SizeBytes: size,
		CreationTime: timestamppb.New(created), ReadyToUse: ready,
	}
}

func (d *Driver) snapshotOf(s *snapshotRecord) *csi.Snapshot {
	return d.csiSnapshot(s.ID, s.SourceVolumeID, s.SizeBytes, s.CreatedAt, s.Phase == snapReady)
}

func snapshotMode(params map[string]string, def tsm.Mode) (tsm.Mode, error) {
	mode := def
	for k, v := range params {
		switch {
		case k == ModeParameter:
			mode = tsm.Mode(v)
			if mode != tsm.ModeImage && mode != tsm.ModeFile {
				return "", errInvalid("parameter %s=%q: want image or file", ModeParameter, v)
			}
		case strings.HasPrefix(k, "csi.storage.k8s.io/"):
		default:
			return "", errInvalid("unknown snapshot parameter %q", k)
		}
	}
	return mode, nil
}

func (d *Driver) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if err := checkName("snapshot name", req.GetName()); err != nil {
		return nil, err
	}
	if req.GetSourceVolumeId() == "" {
		return nil, errInvalid("source volume id missing")
	}
	known, err := checkVolumeID(req.GetSourceVolumeId())
	if err != nil {
		return nil, err
	}
	mode, err := snapshotMode(req.GetParameters(), d.opts.DefaultMode)
	if err != nil {
		return nil, err
	}
	key := snapshotKeyFor(req.GetName())
	release, ok := d.inflight.acquire("snap:" + key)
	if !ok {
		return nil, errAborted("an operation on snapshot %q is in progress", req.GetName())
	}
	defer release()

	s, err := d.loadSnapshot(key)
	switch {
	case err == nil:
		if s.SourceVolumeID != req.GetSourceVolumeId() {
			return nil, errExists("snapshot %q exists for volume %s", req.GetName(), s.SourceVolumeID)
		}
		if s.Mode != mode {
			return nil, errExists("snapshot %q exists in %s mode", req.GetName(), s.Mode)
		}
		switch s.Phase {
		case snapReady:
			return &csi.CreateSnapshotResponse{Snapshot: d.snapshotOf(s)}, nil
		case snapUploading:
			return d.answerUploading(s)
		case snapLost:
			return nil, errPrecondition("snapshot %q can never be completed: %s; delete it and take a new one", req.GetName(), s.Error)
		}
		// A cut a crash interrupted: no creation_time was answered for it, so a new cut is
		// still the point in time this call asks for.
		if err := d.removeSnapshotLeftovers(ctx, s); err != nil {
			return nil, err
		}
	case !errors.Is(err, state.ErrNotFound):
		return nil, err
	}

	if !known {
		return nil, errNotFound("source volume %s not found", req.GetSourceVolumeId())
	}
	releaseVol, ok := d.inflight.acquire("vol:" + req.GetSourceVolumeId())
	if !ok {
		return nil, errAborted("an operation on volume %s is in progress", req.GetSourceVolumeId())
	}
	defer releaseVol()
	v, err := d.loadReadyVolume(req.GetSourceVolumeId())
	if err != nil {
		return nil, err
	}
	ref := d.codec.ref(mode, d.tsm.AsNodeName(), key, v.ID, v.SizeBytes)
	id, err := d.codec.encode(ref)
	if err != nil {
		return nil, errInvalid("%v", err)
	}
	s = &snapshotRecord{
		Key: key, Name: req.GetName(), ID: id, SourceVolumeID: v.ID, Mode: mode,
		Object: ref.Object, SizeBytes: v.SizeBytes,
		Access: v.Access, FSType: v.FSType, Kube: kubeRefOf(req.GetParameters()),
	}
	if err := d.snaps.create(key, s, snapCutting); err != nil {
		return nil, err
	}
	// The cut runs to its end even if the caller gives up: a sparse copy of a large volume can
	// outlast the snapshotter's deadline, and a retry that started the copy again would never
	// finish. Retries meanwhile get ABORTED from the in-flight guard.
	how, at, err := d.cut(context.WithoutCancel(ctx), v, d.cutFile(key), true)
	if err != nil {
		if cerr := d.removeSnapshotLeftovers(context.WithoutCancel(ctx), s); cerr != nil {
			klog.ErrorS(cerr, "Cleanup after a failed cut", "snapshotID", id)
		}
		return nil, err
	}
	s, err = d.snaps.move(key, id, snapCutting, snapUploading, func(s *snapshotRecord) {
		s.Cut, s.CreatedAt = how, at
	})
	if err != nil {
		// Not recorded (a full state directory, say): nothing was answered, so the next call
		// removes this cut and makes a new one.
		return nil, err
	}
	// Started only once recorded; the in-flight guard keeps every other call out meanwhile.
	d.startUpload(s)
	klog.InfoS("Snapshot cut", "snapshotID", id, "volumeID", v.ID, "cut", s.Cut, "mode", mode)
	return &csi.CreateSnapshotResponse{Snapshot: d.snapshotOf(s)}, nil
}

// answerUploading answers a retried CreateSnapshot while the cut waits for TSM: the error of
// the last failed run once, then a new run of the same cut. Decided under the book's lock, so
// that the upload job's own final move cannot slip between the look and the start.
func (d *Driver) answerUploading(s *snapshotRecord) (*csi.CreateSnapshotResponse, error) {
	var report error
	cur, err := d.snaps.update(s.Key, s.ID, func(cur *snapshotRecord) (snapshotPhase, error) {
		if cur.Phase != snapUploading {
			return "", nil
		}
		if cur.Error != "" && !cur.Reported {
			cur.Reported = true
			report = newError(cur.ErrorCode, nil, "upload of snapshot %q to TSM failed (it is retried from the same point-in-time cut): %s", cur.Name, cur.Error)
			return snapUploading, nil
		}
		if d.jobs.running("upload:" + cur.Key) {
			return "", nil
		}
		d.startUpload(cur)
		return "", nil
	})
	if err != nil {
		return nil, err
	}
	if report != nil {
		return nil, report
	}
	return &csi.CreateSnapshotResponse{Snapshot: d.snapshotOf(cur)}, nil
}

// removeSnapshotLeftovers undoes everything a snapshot may hold on this node apart from its TSM
// backup: the link, the loop device over its cut, the cut file and the record.
func (d *Driver) removeSnapshotLeftovers(ctx context.Context, s *snapshotRecord) error {
	if err := d.releaseUploadResources(ctx, s, true); err != nil {
		return err
	}
	return d.snaps.remove(s.Key, s.ID)
}

func (d *Driver) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, errInvalid("snapshot id missing")
	}
	ref, err := d.codec.decode(req.GetSnapshotId())
	if err != nil {
		// Not an id this driver could have made: nothing of it exists.
		klog.V(4).InfoS("DeleteSnapshot of a foreign id", "snapshotID", req.GetSnapshotId(), "reason", err.Error())
		return &csi.DeleteSnapshotResponse{}, nil
	}
	release, ok := d.inflight.acquire("snap:" + ref.Key)
	if !ok {
		return nil, errAborted("an operation on snapshot %s is in progress", req.GetSnapshotId())
	}
	defer release()

	// Only the snapshot this very id names is touched here: an id that shares the key with a
	// local snapshot but differs in owner, mode or object is another (foreign) object.
	s, err := d.loadSnapshot(ref.Key)
	if errors.Is(err, state.ErrNotFound) || (err == nil && s.ID != req.GetSnapshotId()) {
		s = nil
	} else if err != nil {
		return nil, err
	}
	if s != nil {
		d.jobs.cancelAndWait("upload:" + ref.Key)
		if err := d.releaseUploadResources(ctx, s, true); err != nil {
			return nil, err
		}
	}
	err = d.withSlot(ctx, false, func() error {
		return d.clientFor(ref.Owner).DeleteAll(ctx, ref.Mode, ref.Object)
	})
	if err != nil && !tsm.IsNotFound(err) {
		return nil, wrap(err, "delete TSM backup %s", ref.Object)
	}
	// The metadata goes after the data: a failure in between leaves a description without a
	// backup, which the retried delete removes, never a backup that restores unverified.
	meta := d.codec.metaObject(ref)
	err = d.withSlot(ctx, false, func() error { return d.clientFor(ref.Owner).DeleteAll(ctx, tsm.ModeFile, meta) })
	if err != nil && !tsm.IsNotFound(err) {
		return nil, wrap(err, "delete TSM metadata object %s", meta)
	}
	if s != nil {
		if err := d.snaps.remove(s.Key, s.ID); err != nil {
			return nil, err
		}
	}
	klog.InfoS("Snapshot deleted", "snapshotID", req.GetSnapshotId())
	return &csi.DeleteSnapshotResponse{}, nil
}

// clientFor is the dsmc client that reaches the data of TSM node owner.
func (d *Driver) clientFor(owner string) *tsm.Client {
	if owner == d.tsm.AsNodeName() {
		return d.tsm
	}
	return d.tsm.WithNode(owner)
}

// findSnapshot resolves a snapshot id for a restore: NotFound for ids that are not this
// driver's or whose backup exists neither here nor in TSM.
func (d *Driver) findSnapshot(ctx context.Context, id string) (snapshotRef, error) {
	ref, err := d.codec.decode(id)
	if err != nil {
		return snapshotRef{}, errNotFound("snapshot %q not found: %v", id, err)
	}
	if s, err := d.loadSnapshot(ref.Key); err == nil && s.ID == id {
		if s.Phase != snapReady {
			return snapshotRef{}, errPrecondition("snapshot %s is not ready (%s)", id, s.Phase)
		}
		return ref, nil
	}
	objs, err := d.queryObjects(ctx, d.clientFor(ref.Owner), ref.Mode, ref.Object)
	if err != nil {
		return snapshotRef{}, err
	}
	if len(objs) == 0 {
		return snapshotRef{}, errNotFound("snapshot %s not found in TSM", id)
	}
	return ref, nil
}

// queryObjects lists TSM objects; rows dsmc printed that cannot be parsed are left out, logged
// and counted, so that one odd row never hides every other backup.
func (d *Driver) queryObjects(ctx context.Context, c *tsm.Client, mode tsm.Mode, spec string) ([]tsm.Object, error) {
	var l *tsm.Listing
	err := d.withSlot(ctx, false, func() (err error) {
		if mode == tsm.ModeFile {
			l, err = c.QueryBackupListing(ctx, spec, false)
		} else {
			l, err = c.QueryImageListing(ctx, spec, false)
		}
		return err
	})
	if err != nil {
		return nil, wrap(err, "query TSM")
	}
	for _, row := range l.Skipped {
		d.metrics.skipped.Inc()
		klog.ErrorS(nil, "Skipped a row of dsmc query output that could not be parsed", "row", row)
	}
	return l.Objects, nil
}

func (d *Driver) snapshotByID(ctx context.Context, id string) ([]*csi.Snapshot, error) {
	ref, err := d.codec.decode(id)
	if err != nil {
		return nil, nil
	}
	if s, err := d.loadSnapshot(ref.Key); err == nil && s.ID == id && s.Phase != snapCutting {
		return []*csi.Snapshot{d.snapshotOf(s)}, nil
	}
	objs, err := d.queryObjects(ctx, d.clientFor(ref.Owner), ref.Mode, ref.Object)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.Name == ref.Object {
			return []*csi.Snapshot{d.csiSnapshot(id, ref.VolumeID, ref.SizeBytes, o.BackupTime, true)}, nil
		}
	}
	return nil, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// GetSnapshot (alpha in CSI 1.12) answers for one snapshot, in flight or only in TSM.
func (d *Driver) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, errInvalid("snapshot id missing")
	}
	found, err := d.snapshotByID(ctx, req.GetSnapshotId())
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, errNotFound("snapshot %s not found", req.GetSnapshotId())
	}
	return &csi.GetSnapshotResponse{Snapshot: found[0]}, nil
}
