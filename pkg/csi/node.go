package csi

import (
	"context"
	"errors"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

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
// the volume.
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

func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	if _, err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	release, err := d.beginNodeCall(req.GetVolumeId(), "staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := d.loadReadyVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	dev, err := d.device(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	mnt := req.GetVolumeCapability().GetMount()
	if mnt == nil {
		return &csi.NodeStageVolumeResponse{}, nil // block volumes are published straight from the device
	}
	staging := req.GetStagingTargetPath()
	def := v.FSType
	if def == "" {
		def = d.opts.DefaultFSType
	}
	fsType, err := fsTypeOf(mnt.GetFsType(), def)
	if err != nil {
		return nil, err
	}
	if err := mount.MakeDir(staging); err != nil {
		return nil, err
	}
	src, err := d.mounter.MountedDevice(staging)
	if err != nil {
		return nil, err
	}
	switch {
	case src == "":
		// A restore into a larger volume leaves a smaller ext4 behind; grow it before the
		// mount, which needs no CAP_SYS_RESOURCE, unlike growing it mounted.
		if format, err := d.mounter.DeviceFormat(dev); err == nil && format == "ext4" {
			if _, err := mount.GrowExt4Offline(ctx, dev); err != nil {
				return nil, wrap(err, "grow the file system of %s", v.ID)
			}
		}
		options := mnt.GetMountFlags()
		if readOnlyMode(req.GetVolumeCapability()) {
			options = append(options, "ro")
		}
		if err := d.mounter.FormatAndMount(dev, staging, fsType, options); err != nil {
			return nil, wrap(err, "format and mount %s", v.ID)
		}
	case !sameDevice(src, dev):
		return nil, errExists("staging path %s already holds %s, not volume %s", staging, src, v.ID)
	}
	if format, err := d.mounter.DeviceFormat(dev); err == nil && format == "xfs" {
		if _, err := d.mounter.ResizeFS(dev, staging); err != nil {
			return nil, wrap(err, "grow the file system of %s", v.ID)
		}
	}
	if v.StagingPath != staging {
		v.StagingPath = staging
		if err := d.saveVolume(v); err != nil {
			return nil, err
		}
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

func sameDevice(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	release, err := d.beginNodeCall(req.GetVolumeId(), "staging target path", req.GetStagingTargetPath())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := d.mounter.Unmount(req.GetStagingTargetPath()); err != nil {
		return nil, wrap(err, "unmount %s", req.GetStagingTargetPath())
	}
	v, err := d.loadVolume(req.GetVolumeId())
	if err != nil {
		if codeOf(err) == codes.NotFound {
			return &csi.NodeUnstageVolumeResponse{}, nil
		}
		return nil, err
	}
	if v.StagingPath == req.GetStagingTargetPath() {
		v.StagingPath = ""
		if err := d.saveVolume(v); err != nil {
			return nil, err
		}
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if _, err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	mnt := req.GetVolumeCapability().GetMount()
	if mnt != nil && req.GetStagingTargetPath() == "" {
		return nil, errInvalid("staging target path missing")
	}
	release, err := d.beginNodeCall(req.GetVolumeId(), "target path", target)
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := d.loadReadyVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	readOnly := req.GetReadonly() || readOnlyMode(req.GetVolumeCapability())
	var src string
	if mnt == nil {
		if src, err = d.device(ctx, v.ID); err != nil {
			return nil, err
		}
		if err := mount.MakeFile(target); err != nil {
			return nil, err
		}
	} else {
		src = req.GetStagingTargetPath()
		if staged, err := d.mounter.IsMountPoint(src); err != nil || !staged {
			return nil, errPrecondition("volume %s is not staged at %s", v.ID, src)
		}
		if err := mount.MakeDir(target); err != nil {
			return nil, err
		}
	}
	if mounted, err := d.mounter.IsMountPoint(target); err != nil {
		return nil, err
	} else if !mounted {
		if err := d.mounter.BindMount(src, target, readOnly, mnt.GetMountFlags()); err != nil {
			return nil, wrap(err, "publish %s at %s", v.ID, target)
		}
	}
	if addTarget(v, target) {
		if err := d.saveVolume(v); err != nil {
			return nil, err
		}
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	release, err := d.beginNodeCall(req.GetVolumeId(), "target path", target)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := d.mounter.Unmount(target); err != nil {
		return nil, wrap(err, "unmount %s", target)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	v, err := d.loadVolume(req.GetVolumeId())
	if err != nil {
		if codeOf(err) == codes.NotFound {
			return &csi.NodeUnpublishVolumeResponse{}, nil
		}
		return nil, err
	}
	if removeTarget(v, target) {
		if err := d.saveVolume(v); err != nil {
			return nil, err
		}
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if _, err := checkVolumeID(req.GetVolumeId()); err != nil {
		return nil, err
	}
	p := req.GetVolumePath()
	if p == "" {
		return nil, errInvalid("volume path missing")
	}
	v, err := d.loadReadyVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotFound("volume path %s does not exist", p)
	} else if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
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
	if mounted, err := d.mounter.IsMountPoint(p); err != nil || !mounted {
		return nil, errNotFound("volume %s is not mounted at %s", v.ID, p)
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
	release, err := d.beginNodeCall(req.GetVolumeId(), "volume path", req.GetVolumePath())
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := d.loadReadyVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(req.GetVolumePath()); err != nil {
		return nil, errNotFound("volume path %s: %v", req.GetVolumePath(), err)
	}
	dev, err := d.device(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	if err := mount.RefreshLoopSize(ctx, dev); err != nil {
		return nil, err
	}
	block := req.GetVolumeCapability().GetBlock() != nil
	if !block {
		if fi, err := os.Stat(req.GetVolumePath()); err == nil && !fi.IsDir() {
			block = true
		}
	}
	if !block {
		mnt := req.GetStagingTargetPath()
		if mnt == "" {
			mnt = req.GetVolumePath()
		}
		if _, err := d.mounter.ResizeFS(dev, mnt); err != nil {
			return nil, wrap(err, "grow the file system of %s", v.ID)
		}
	}
	size, err := mount.DeviceSize(dev)
	if err != nil {
		return nil, err
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}
