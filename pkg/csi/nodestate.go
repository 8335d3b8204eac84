package csi

import (
	"errors"
	"slices"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

// The node service acts only on what it recorded itself: where each volume is staged, which
// device it put there, where it is published, and which of those paths it created. Requests
// name paths, but a path is trusted only when the record of the named volume holds it, so a
// request can never make the driver unmount, remove or expose anything it did not make for
// that volume. Records live in records/node/<volume id> and are written only by node.go, always
// before the mount or file they describe exists, so that a crash leaves a record of everything
// there is to undo.

// nodeRecord is what the node service did for one volume on this node.
type nodeRecord struct {
	ID string `json:"id"`
	// StagingPath is where NodeStageVolume put the volume; for mount access the file system
	// is mounted there, for block access nothing is (the device is published directly).
	StagingPath    string `json:"stagingPath,omitempty"`
	StagingCreated bool   `json:"stagingCreated,omitempty"` // the driver made the directory
	Access         string `json:"access,omitempty"`         // "block" or "mount", as staged
	FSType         string `json:"fsType,omitempty"`
	// Device is the loop device staged, for the record; checks use the device the volume's
	// backing file is attached to now, which survives a reattachment under another number.
	Device  string       `json:"device,omitempty"`
	Targets []nodeTarget `json:"targets,omitempty"`
}

// nodeTarget is one NodePublishVolume target.
type nodeTarget struct {
	Path     string `json:"path"`
	Created  bool   `json:"created,omitempty"` // the driver made the file or directory
	ReadOnly bool   `json:"readOnly,omitempty"`
}

func (r *nodeRecord) target(p string) (nodeTarget, bool) {
	i := slices.IndexFunc(r.Targets, func(t nodeTarget) bool { return t.Path == p })
	if i < 0 {
		return nodeTarget{}, false
	}
	return r.Targets[i], true
}

func (r *nodeRecord) setTarget(t nodeTarget) {
	if i := slices.IndexFunc(r.Targets, func(x nodeTarget) bool { return x.Path == t.Path }); i >= 0 {
		r.Targets[i] = t
		return
	}
	r.Targets = append(r.Targets, t)
}

func (r *nodeRecord) dropTarget(p string) {
	r.Targets = slices.DeleteFunc(r.Targets, func(t nodeTarget) bool { return t.Path == p })
}

func (r *nodeRecord) empty() bool { return r.StagingPath == "" && len(r.Targets) == 0 }

func (r *nodeRecord) clone() *nodeRecord {
	c := *r
	c.Targets = slices.Clone(r.Targets)
	return &c
}

// loadNode returns the node record of a volume; a volume never staged here has an empty one.
func (d *Driver) loadNode(id string) (*nodeRecord, error) {
	r := &nodeRecord{ID: id}
	err := d.nodes.Get(id, r)
	if errors.Is(err, state.ErrNotFound) {
		return d.legacyNode(id)
	}
	if err != nil {
		return nil, wrap(err, "read the node record of %s", id)
	}
	return r, nil
}

// legacyNode carries over what an earlier version of the driver kept in the volume record, so
// that a volume staged before an upgrade can still be unstaged (and is not deleted while in
// use). Whether those paths were made by the driver is unknown, so none is ever removed.
func (d *Driver) legacyNode(id string) (*nodeRecord, error) {
	r := &nodeRecord{ID: id}
	var v volumeRecord
	if err := d.volumes.Get(id, &v); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return r, nil
		}
		return nil, err
	}
	if v.StagingPath != "" {
		r.StagingPath, r.Access, r.FSType = v.StagingPath, v.Access, v.FSType
	}
	for _, t := range v.Targets {
		r.Targets = append(r.Targets, nodeTarget{Path: t})
	}
	return r, nil
}

// saveNode writes the record, or removes it once nothing is staged or published.
func (d *Driver) saveNode(r *nodeRecord) error {
	if r.empty() {
		// An empty record stays while the volume record still holds the paths of an earlier
		// version, or legacyNode would bring them back.
		var v volumeRecord
		if err := d.volumes.Get(r.ID, &v); err != nil || (v.StagingPath == "" && len(v.Targets) == 0) {
			return wrap(d.nodes.Delete(r.ID), "remove the node record of %s", r.ID)
		}
	}
	return wrap(d.nodes.Put(r.ID, r), "write the node record of %s", r.ID)
}

// stagedAt returns where volume id's file system is mounted by NodeStageVolume, "" if it is
// not staged with mount access or the staging path no longer holds the volume's device (after
// a reboot, say). This is the path to freeze for a consistent cut; it is verified, so a freeze
// never hits another file system.
func (d *Driver) stagedAt(id string) (string, error) {
	r, err := d.loadNode(id)
	if err != nil || r.StagingPath == "" || r.Access != "mount" {
		return "", err
	}
	rdev, err := d.currentDevice(id)
	if err != nil || rdev == 0 {
		return "", err
	}
	mounted, got, err := mount.MountOf(r.StagingPath)
	if err != nil || !mounted || got != rdev {
		return "", err
	}
	return r.StagingPath, nil
}

// inUseOnNode reports whether volume id is staged or published on this node according to the
// node service's records; DeleteVolume refuses such a volume.
func (d *Driver) inUseOnNode(id string) (bool, error) {
	r, err := d.loadNode(id)
	if err != nil {
		return false, err
	}
	return !r.empty(), nil
}

// currentDevice is the device number of the loop device the volume's backing file is attached
// to, 0 if none: no mount can then be of this volume.
func (d *Driver) currentDevice(id string) (uint64, error) {
	dev, err := mount.FindLoop(d.backingFile(id))
	if err != nil {
		return 0, wrap(err, "find the device of %s", id)
	}
	if dev == "" {
		return 0, nil
	}
	rdev, err := mount.DeviceNumber(dev)
	return rdev, wrap(err, "device of %s", id)
}
