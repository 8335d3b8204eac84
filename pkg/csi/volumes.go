package csi

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

// volumePhase is where a volume stands.
type volumePhase string

// A volume is "creating" while its backing file and loop device are being made, "restoring"
// while dsmc writes a snapshot into it, "ready" afterwards. A failed restore keeps only its
// record ("failed") so the error can be reported to the next CreateVolume call.
const (
	phaseCreating  volumePhase = "creating"
	phaseRestoring volumePhase = "restoring"
	phaseReady     volumePhase = "ready"
	phaseFailed    volumePhase = "failed"
)

// volumeBook is the one writer of volume records (the restore job's among them). Every change
// goes through update (or create/remove), under one lock, and must be a move of this table:
//
//	from       to         who, when
//	(none)     creating   CreateVolume, before the backing file is made
//	creating   ready      CreateVolume, once an empty or cloned volume is attached
//	creating   restoring  CreateVolume, once the file of a restore exists; the restore job starts
//	restoring  ready      the restore job, once the data is in place, flushed and attached
//	restoring  failed     the restore job, after removing the half-restored data
//	ready      ready      ControllerExpandVolume, with the new size
//	failed     (none)     CreateVolume, reporting the failure once
//	any        (none)     DeleteVolume; a failed creation; recovery of an interrupted creation
type volumeBook = book[volumeRecord, volumePhase]

func newVolumeBook(dir *state.Dir) *volumeBook {
	return &volumeBook{
		dir: dir, what: "volume",
		moves: map[volumePhase][]volumePhase{
			phaseCreating:  {phaseReady, phaseRestoring},
			phaseRestoring: {phaseReady, phaseFailed},
			phaseReady:     {phaseReady},
		},
		phase: func(v *volumeRecord) *volumePhase { return &v.Phase },
		id:    func(v *volumeRecord) string { return v.ID },
	}
}

type volumeRecord struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	SizeBytes      int64             `json:"sizeBytes"`
	Access         string            `json:"access"`
	FSType         string            `json:"fsType,omitempty"`
	Parameters     map[string]string `json:"parameters,omitempty"`
	SourceSnapshot string            `json:"sourceSnapshot,omitempty"`
	SourceVolume   string            `json:"sourceVolume,omitempty"`
	Phase          volumePhase       `json:"phase"`
	ErrorCode      codes.Code        `json:"errorCode,omitempty"`
	Error          string            `json:"error,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	StagingPath    string            `json:"stagingPath,omitempty"`
	Targets        []string          `json:"targets,omitempty"`
}

func (d *Driver) backingFile(id string) string { return filepath.Join(d.dataDir, id+".img") }

func (d *Driver) loadVolume(id string) (*volumeRecord, error) {
	var v volumeRecord
	if err := d.volumes.Get(id, &v); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return nil, errNotFound("volume %s not found", id)
		}
		return nil, err
	}
	return &v, nil
}

// loadReadyVolume is the volume a node or snapshot operation may use.
func (d *Driver) loadReadyVolume(id string) (*volumeRecord, error) {
	known, err := checkVolumeID(id)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, errNotFound("volume %s not found", id)
	}
	v, err := d.loadVolume(id)
	if err != nil {
		return nil, err
	}
	if v.Phase != phaseReady {
		return nil, errNotFound("volume %s is not ready (%s)", id, v.Phase)
	}
	return v, nil
}

// device attaches (idempotently) the volume's backing file and returns its loop device.
func (d *Driver) device(ctx context.Context, id string) (string, error) {
	dev, err := d.loops.Attach(ctx, d.backingFile(id))
	return dev, wrap(err, "attach volume %s", id)
}

// makeVolume creates the backing file of a new volume, fills it with fill (which may be nil for
// an empty volume), attaches it and records it in phase done. On any error nothing is left behind.
func (d *Driver) makeVolume(ctx context.Context, v *volumeRecord, fill func(file string) error, done volumePhase) (err error) {
	file := d.backingFile(v.ID)
	if err := d.vols.create(v.ID, v, phaseCreating); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if derr := d.destroyVolume(context.WithoutCancel(ctx), v.ID); derr != nil {
				klog.ErrorS(derr, "Removing a half-made volume failed; the next start removes it", "volumeID", v.ID)
			}
		}
	}()
	if fill != nil {
		if err := fill(file); err != nil {
			return err
		}
		if err := mount.GrowFile(file, v.SizeBytes); err != nil {
			return wrap(err, "grow volume %s", v.ID)
		}
	} else if err := mount.CreateSparseFile(file, v.SizeBytes); err != nil {
		return wrap(err, "create backing file of %s", v.ID)
	}
	if _, err := d.device(ctx, v.ID); err != nil {
		return err
	}
	rec, err := d.vols.move(v.ID, v.ID, phaseCreating, done, nil)
	if err == nil {
		*v = *rec
	}
	return err
}

// destroyVolume removes the loop device, backing file and record of a volume; every step is
// idempotent, so it also finishes a removal that a crash interrupted.
func (d *Driver) destroyVolume(ctx context.Context, id string) error {
	if err := d.removeVolumeData(ctx, id); err != nil {
		return err
	}
	if err := d.vols.remove(id, ""); err != nil {
		return err
	}
	d.metrics.forgetVolume(id)
	klog.InfoS("Volume removed", "volumeID", id)
	return nil
}

// removeVolumeData removes the loop device and files of a volume, not its record.
func (d *Driver) removeVolumeData(ctx context.Context, id string) error {
	file := d.backingFile(id)
	dev, err := d.loops.Find(file)
	if err != nil {
		return wrap(err, "find loop device of %s", id)
	}
	if dev != "" {
		if err := d.loops.Detach(ctx, dev); err != nil {
			return wrap(err, "detach %s of volume %s", dev, id)
		}
	}
	for _, f := range []string{file, file + ".restore"} {
		if err := removeIfExists(f); err != nil {
			return err
		}
	}
	return nil
}
