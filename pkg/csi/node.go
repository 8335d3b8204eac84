package csi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: d.opts.NodeID, AccessibleTopology: d.topology()}, nil
}

func (d *Driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, c := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
	} {
		caps = append(caps, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: c}},
		})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// beginNodeCall validates what every node call carries, a volume id and a path, and reserves
// the volume. The path itself is checked by each call: whether it is trusted depends on the
// volume's node record.
func (d *Driver) beginNodeCall(id, pathName, path string) (func(), error) {
	if _, err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errInvalid("%s missing", pathName)
	}
	release, ok := d.inflight.acquire("vol:" + id)
	if !ok {
		return nil, errAborted("an operation on volume %s is in progress", id)
	}
	return release, nil
}

// checkNodePath refuses a path from a request that is relative or unclean, goes through a
// symlink, or lies inside (or above) the state or link directory: mounting there would hide the
// driver's records or devices, and a symlink would move the operation somewhere else.
func (d *Driver) checkNodePath(what, p string) error {
	if err := mount.CheckPath(p, d.opts.StateDir, d.opts.LinkDir); err != nil {
		return newError(codes.InvalidArgument, err, "%s", what)
	}
	return nil
}

// checkSameKind refuses a capability that would use a volume as something it was not created
// as: a block volume holding raw data staged with a file system would be formatted. It returns
// the file system to use for mount access.
func (d *Driver) checkSameKind(v *volumeRecord, c *csi.VolumeCapability) (string, error) {
	kind := "mount"
	if c.GetBlock() != nil {
		kind = "block"
	}
	if v.Access != "" && v.Access != kind {
		return "", errPrecondition("volume %s was created for %s access and cannot be used with %s access", v.ID, v.Access, kind)
	}
	if kind == "block" {
		return "", nil
	}
	def := v.FSType
	if def == "" {
		def = d.opts.DefaultFSType
	}
	fsType, err := fsTypeOf(c.GetMount().GetFsType(), def)
	if err != nil {
		return "", err
	}
	if v.FSType != "" && fsType != v.FSType {
		return "", errPrecondition("volume %s was created with file system %s, not %s", v.ID, v.FSType, fsType)
	}
	return fsType, nil
}

// exists reports whether something (of any kind, a symlink included) is at p.
func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func devNum(n uint64) string { return fmt.Sprintf("%d:%d", unix.Major(n), unix.Minor(n)) }

func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (resp *csi.NodeStageVolumeResponse, err error) {
	c := req.GetVolumeCapability()
	if _, err := checkCapability(c); err != nil {
		return nil, err
	}
	if err := mount.ValidateMountFlags(c.GetMount().GetMountFlags()); err != nil {
		return nil, err
	}
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	release, err := d.beginNodeCall(id, "staging target path", staging)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := d.checkNodePath("staging target path", staging); err != nil {
		return nil, err
	}
	v, err := d.loadReadyVolume(id)
	if err != nil {
		return nil, err
	}
	fsType, err := d.checkSameKind(v, c)
	if err != nil {
		return nil, err
	}
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	if r.StagingPath != "" && r.StagingPath != staging {
		return nil, errPrecondition("volume %s is staged at %s; unstage it there first", id, r.StagingPath)
	}
	dev, err := d.device(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	rdev, err := mount.DeviceNumber(dev)
	if err != nil {
		return nil, err
	}
	prev := r.clone()
	if r.StagingPath == "" {
		// Recorded before anything is made, so that whatever a crash leaves behind is on record.
		// Nothing is made at the staging path of a block volume.
		r.StagingPath, r.StagingCreated, r.Access, r.FSType, r.Device = staging, v.Access == "mount" && !exists(staging), v.Access, fsType, dev
		if err := d.saveNode(r); err != nil {
			return nil, err
		}
	}
	created, mounted := false, false
	defer func() {
		if err == nil {
			return
		}
		if mounted {
			if _, uerr := mount.UnmountDevice(staging, rdev); uerr != nil {
				klog.ErrorS(uerr, "Could not undo the staging mount", "volumeID", id, "path", staging)
				return // the record stays, so that NodeUnstageVolume can finish it
			}
		}
		if created {
			if rerr := mount.RemoveCreated(staging); rerr != nil {
				klog.ErrorS(rerr, "Could not remove the staging directory", "volumeID", id, "path", staging)
				return
			}
		}
		if serr := d.saveNode(prev); serr != nil {
			klog.ErrorS(serr, "Could not restore the node record", "volumeID", id)
		}
	}()
	if v.Access == "block" {
		// Block volumes are published straight from the device: nothing is mounted here.
		klog.InfoS("Volume staged", "volumeID", id, "path", staging, "access", "block")
		return &csi.NodeStageVolumeResponse{}, nil
	}
	if created, err = mount.MakeDirNoFollow(staging); err != nil {
		return nil, newError(codeOfPathErr(err), err, "staging target path")
	}
	isMount, got, err := mount.MountOf(staging)
	if err != nil {
		return nil, err
	}
	switch {
	case !isMount:
		// A restore into a larger volume leaves a smaller ext4 behind; grow it before the
		// mount, which needs no CAP_SYS_RESOURCE, unlike growing it mounted.
		if format, err := d.mounter.DeviceFormat(dev); err == nil && format == "ext4" {
			if _, err := mount.GrowExt4Offline(ctx, dev); err != nil {
				return nil, wrap(err, "grow the file system of %s", v.ID)
			}
		}
		options := slices.Clone(c.GetMount().GetMountFlags())
		if readOnlyMode(c) {
			options = append(options, "ro")
		}
		if err := d.mounter.FormatAndMount(dev, staging, fsType, options); err != nil {
			return nil, wrap(err, "format and mount %s", v.ID)
		}
		mounted = true
	case got != rdev:
		return nil, errPrecondition("staging path %s is a mount point of device %s, not of volume %s", staging, devNum(got), id)
	}
	if format, err := d.mounter.DeviceFormat(dev); err == nil && format == "xfs" {
		if _, err := d.mounter.ResizeFS(dev, staging); err != nil {
			return nil, wrap(err, "grow the file system of %s", v.ID)
		}
	}
	klog.InfoS("Volume staged", "volumeID", id, "path", staging, "device", dev, "fsType", fsType)
	return &csi.NodeStageVolumeResponse{}, nil
}

// codeOfPathErr: a path that turned out unsafe while being made is the caller's fault.
func codeOfPathErr(err error) codes.Code {
	if errors.Is(err, mount.ErrUnsafePath) {
		return codes.InvalidArgument
	}
	return codes.Internal
}

func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	release, err := d.beginNodeCall(id, "staging target path", staging)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	if r.StagingPath != staging {
		// The spec's answer for a volume not staged there; the path is not ours to touch.
		klog.InfoS("Volume not staged at this path; nothing to do", "volumeID", id, "path", staging, "stagedAt", r.StagingPath)
		return &csi.NodeUnstageVolumeResponse{}, nil
	}
	if len(r.Targets) > 0 {
		return nil, errPrecondition("volume %s is still published at %s; unpublish it first", id, strings.Join(targetPaths(r), ", "))
	}
	if err := d.checkNodePath("staging target path", staging); err != nil {
		return nil, err
	}
	if r.Access == "mount" {
		if err := d.unmountOwn(id, staging); err != nil {
			return nil, err
		}
		if r.StagingCreated {
			if err := mount.RemoveCreated(staging); err != nil {
				return nil, err
			}
		}
	}
	r.StagingPath, r.StagingCreated, r.Access, r.FSType, r.Device = "", false, "", "", ""
	if err := d.saveNode(r); err != nil {
		return nil, err
	}
	klog.InfoS("Volume unstaged", "volumeID", id, "path", staging)
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// unmountOwn takes the volume's own mounts off p and leaves anything else alone; a mount of
// something else stacked on top of the volume's is an error, because the volume's mount
// beneath it cannot be reached without unmounting what is not ours.
func (d *Driver) unmountOwn(id, p string) error {
	rdev, err := d.currentDevice(id)
	if err != nil {
		return err
	}
	if rdev != 0 {
		if _, err := mount.UnmountDevice(p, rdev); err != nil {
			return err
		}
	}
	isMount, got, err := mount.MountOf(p)
	if err != nil {
		return err
	}
	if isMount {
		return errPrecondition("%s is a mount point of device %s, which is not volume %s; left in place", p, devNum(got), id)
	}
	return nil
}

func targetPaths(r *nodeRecord) []string {
	var out []string
	for _, t := range r.Targets {
		out = append(out, t.Path)
	}
	return out
}

func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (resp *csi.NodePublishVolumeResponse, err error) {
	c := req.GetVolumeCapability()
	if _, err := checkCapability(c); err != nil {
		return nil, err
	}
	if err := mount.ValidateMountFlags(c.GetMount().GetMountFlags()); err != nil {
		return nil, err
	}
	id, target, staging := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath()
	release, err := d.beginNodeCall(id, "target path", target)
	if err != nil {
		return nil, err
	}
	defer release()
	if staging == "" {
		return nil, errPrecondition("staging target path missing: volume %s must be staged first", id)
	}
	if err := d.checkNodePath("target path", target); err != nil {
		return nil, err
	}
	if err := d.checkNodePath("staging target path", staging); err != nil {
		return nil, err
	}
	v, err := d.loadReadyVolume(id)
	if err != nil {
		return nil, err
	}
	if _, err := d.checkSameKind(v, c); err != nil {
		return nil, err
	}
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	if r.StagingPath != staging {
		return nil, errPrecondition("volume %s is not staged at %s", id, staging)
	}
	rdev, err := d.currentDevice(id)
	if err != nil {
		return nil, err
	}
	if rdev == 0 {
		return nil, errPrecondition("volume %s has no device attached; stage it again", id)
	}
	src := staging
	if v.Access == "block" {
		if src, err = d.device(ctx, id); err != nil {
			return nil, err
		}
	} else if isMount, got, err := mount.MountOf(staging); err != nil {
		return nil, err
	} else if !isMount || got != rdev {
		return nil, errPrecondition("staging path %s does not hold volume %s; stage it again", staging, id)
	}
	readOnly := req.GetReadonly() || readOnlyMode(c)
	isMount, got, err := mount.MountOf(target)
	if err != nil {
		return nil, err
	}
	t, known := r.target(target)
	switch {
	case isMount && known && got == rdev:
		if t.ReadOnly != readOnly {
			return nil, errExists("volume %s is published at %s with read-only=%v", id, target, t.ReadOnly)
		}
		return &csi.NodePublishVolumeResponse{}, nil
	case isMount:
		return nil, errPrecondition("target path %s is already a mount point (device %s), not one of volume %s", target, devNum(got), id)
	}
	prev := r.clone()
	if !known {
		t = nodeTarget{Path: target, Created: !exists(target), ReadOnly: readOnly}
	}
	t.ReadOnly = readOnly
	r.setTarget(t)
	if err := d.saveNode(r); err != nil {
		return nil, err
	}
	created := false
	defer func() {
		if err == nil {
			return
		}
		if created {
			if rerr := mount.RemoveCreated(target); rerr != nil {
				klog.ErrorS(rerr, "Could not remove the target", "volumeID", id, "path", target)
				return // the record stays, so that NodeUnpublishVolume can finish it
			}
		}
		if known {
			return // an earlier call made the target; it stays recorded
		}
		if serr := d.saveNode(prev); serr != nil {
			klog.ErrorS(serr, "Could not restore the node record", "volumeID", id)
		}
	}()
	if v.Access == "block" {
		created, err = mount.MakeFileNoFollow(target)
	} else {
		created, err = mount.MakeDirNoFollow(target)
	}
	if err != nil {
		return nil, newError(codeOfPathErr(err), err, "target path")
	}
	if created != t.Created && !t.Created {
		// Someone removed what existed between the check and the creation: it is ours now.
		t.Created = true
		r.setTarget(t)
		if err := d.saveNode(r); err != nil {
			return nil, err
		}
	}
	if err := d.mounter.BindMount(src, target, readOnly, c.GetMount().GetMountFlags()); err != nil {
		return nil, wrap(err, "publish %s at %s", id, target)
	}
	klog.InfoS("Volume published", "volumeID", id, "path", target, "readOnly", readOnly)
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	release, err := d.beginNodeCall(id, "target path", target)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	t, known := r.target(target)
	if !known {
		// Never published there (or unpublished already): nothing there is ours.
		klog.InfoS("Volume not published at this path; nothing to do", "volumeID", id, "path", target)
		return &csi.NodeUnpublishVolumeResponse{}, nil
	}
	if err := d.checkNodePath("target path", target); err != nil {
		return nil, err
	}
	if err := d.unmountOwn(id, target); err != nil {
		return nil, err
	}
	if t.Created {
		if err := mount.RemoveCreated(target); err != nil {
			return nil, err
		}
	}
	r.dropTarget(target)
	if err := d.saveNode(r); err != nil {
		return nil, err
	}
	klog.InfoS("Volume unpublished", "volumeID", id, "path", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// volumePathOf accepts p only if the node service put volume id there: a published target, or
// the staging path of a mounted file system.
func volumePathOf(r *nodeRecord, p string) bool {
	if _, ok := r.target(p); ok {
		return true
	}
	return r.Access == "mount" && r.StagingPath == p
}

func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, p := req.GetVolumeId(), req.GetVolumePath()
	if _, err := checkVolumeID(id); err != nil {
		return nil, err
	}
	if p == "" {
		return nil, errInvalid("volume path missing")
	}
	v, err := d.loadReadyVolume(id)
	if err != nil {
		return nil, err
	}
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	if !volumePathOf(r, p) {
		return nil, errNotFound("volume %s is not staged or published at %s", id, p)
	}
	if err := d.checkNodePath("volume path", p); err != nil {
		return nil, err
	}
	rdev, err := d.currentDevice(id)
	if err != nil {
		return nil, err
	}
	if isMount, got, err := mount.MountOf(p); err != nil {
		return nil, err
	} else if !isMount || got != rdev || rdev == 0 {
		return nil, errNotFound("volume %s is not mounted at %s", id, p)
	}
	if v.Access == "block" {
		dev, err := d.device(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		size, err := mount.DeviceSize(dev)
		if err != nil {
			return nil, err
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	st, err := mount.StatFS(p)
	if err != nil {
		return nil, err
	}
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: st.TotalBytes, Available: st.AvailableBytes, Used: st.UsedBytes},
		{Unit: csi.VolumeUsage_INODES, Total: st.TotalInodes, Available: st.FreeInodes, Used: st.UsedInodes},
	}}, nil
}

func (d *Driver) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	id, p := req.GetVolumeId(), req.GetVolumePath()
	release, err := d.beginNodeCall(id, "volume path", p)
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := d.loadReadyVolume(id)
	if err != nil {
		return nil, err
	}
	r, err := d.loadNode(id)
	if err != nil {
		return nil, err
	}
	// Growing acts on whatever file system is mounted at the path: only one of this volume's
	// own paths will do.
	if !volumePathOf(r, p) {
		return nil, errNotFound("volume %s is not staged or published at %s", id, p)
	}
	if err := d.checkNodePath("volume path", p); err != nil {
		return nil, err
	}
	dev, err := d.device(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if err := mount.RefreshLoopSize(ctx, dev); err != nil {
		return nil, err
	}
	if v.Access != "block" {
		rdev, err := mount.DeviceNumber(dev)
		if err != nil {
			return nil, err
		}
		if isMount, got, err := mount.MountOf(p); err != nil {
			return nil, err
		} else if !isMount || got != rdev {
			return nil, errNotFound("volume %s is not mounted at %s", id, p)
		}
		if _, err := d.mounter.ResizeFS(dev, p); err != nil {
			return nil, wrap(err, "grow the file system of %s", v.ID)
		}
	}
	size, err := mount.DeviceSize(dev)
	if err != nil {
		return nil, err
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
