package csi

import (
	"context"
	"encoding/base64"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

const (
	sizeAlign   = 4096
	minXFSBytes = 300 << 20 // mkfs.xfs refuses smaller file systems
)

func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: c}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (d *Driver) topology() *csi.Topology {
	return &csi.Topology{Segments: map[string]string{d.topologyKey: d.opts.NodeID}}
}

// onThisNode says whether a topology names this node (or does not name nodes at all).
func (d *Driver) onThisNode(t *csi.Topology) bool {
	v, ok := t.GetSegments()[d.topologyKey]
	return !ok || v == d.opts.NodeID
}

// volumeSize picks the size of a new volume: the smallest aligned size that satisfies the
// request and holds the content source (min), within the driver's limits.
func (d *Driver) volumeSize(r *csi.CapacityRange, min int64, fsType string) (int64, error) {
	req, lim := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || lim < 0 {
		return 0, errInvalid("capacity range must not be negative")
	}
	if lim > 0 && req > lim {
		return 0, errInvalid("required bytes %d exceed limit bytes %d", req, lim)
	}
	if min > 0 && req > 0 && req < min {
		return 0, errOutOfRange("requested %d bytes, the source holds %d bytes", req, min)
	}
	size := max(req, min)
	if size == 0 {
		size = d.opts.DefaultVolumeSize
		if lim > 0 && size > lim {
			size = lim
		}
	}
	if fsType == "xfs" && size < minXFSBytes {
		if lim > 0 && lim < minXFSBytes {
			return 0, errOutOfRange("an xfs volume needs at least %d bytes, the limit is %d", minXFSBytes, lim)
		}
		size = minXFSBytes
	}
	// Rounding up must not wrap around into a negative size, which would slip past every check
	// below (an expansion to MaxInt64 used to answer OK with the old size).
	if size > math.MaxInt64-(sizeAlign-1) {
		return 0, errOutOfRange("%d bytes is larger than any volume this driver can make", size)
	}
	size = (size + sizeAlign - 1) / sizeAlign * sizeAlign
	if lim > 0 && size > lim {
		return 0, errOutOfRange("no size that is a multiple of %d bytes lies between %d and %d", sizeAlign, req, lim)
	}
	if d.opts.MaxVolumeSize > 0 && size > d.opts.MaxVolumeSize {
		return 0, errOutOfRange("%d bytes exceed the maximum volume size %d", size, d.opts.MaxVolumeSize)
	}
	return size, nil
}

func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if err := checkName("volume name", req.GetName()); err != nil {
		return nil, err
	}
	access, err := checkCapabilities(req.GetVolumeCapabilities())
	if err != nil {
		return nil, err
	}
	requestedFS, fsType := requestedFSType(req.GetVolumeCapabilities()), ""
	if access == "mount" {
		if fsType, err = fsTypeOf(requestedFS, d.opts.DefaultFSType); err != nil {
			return nil, err
		}
	}
	if err := checkVolumeParameters(req.GetParameters()); err != nil {
		return nil, err
	}
	if req.GetAccessibilityRequirements() != nil {
		reachable := len(req.GetAccessibilityRequirements().GetRequisite()) == 0
		for _, t := range req.GetAccessibilityRequirements().GetRequisite() {
			reachable = reachable || d.onThisNode(t)
		}
		if !reachable {
			return nil, errExhausted("volumes of this driver are local to node %s, which the requisite topology does not include", d.opts.NodeID)
		}
	}
	id := volumeIDFor(req.GetName())
	release, ok := d.inflight.acquire("vol:" + id)
	if !ok {
		return nil, errAborted("an operation on volume %s is in progress", id)
	}
	defer release()

	v := &volumeRecord{
		ID: id, Name: req.GetName(), Access: access, FSType: fsType,
		Parameters: req.GetParameters(), CreatedAt: time.Now().UTC(),
	}
	switch s := req.GetVolumeContentSource().GetType().(type) {
	case nil:
	case *csi.VolumeContentSource_Snapshot:
		// An empty id would otherwise read as "no source" and make an empty volume where the CO
		// expects data.
		if v.SourceSnapshot = s.Snapshot.GetSnapshotId(); v.SourceSnapshot == "" {
			return nil, errInvalid("content source snapshot id missing")
		}
	case *csi.VolumeContentSource_Volume:
		if v.SourceVolume = s.Volume.GetVolumeId(); v.SourceVolume == "" {
			return nil, errInvalid("content source volume id missing")
		}
	default:
		return nil, errInvalid("unsupported volume content source")
	}
	// A retry (the provisioner repeats the call every few seconds during a restore) is answered
	// from the record, without asking TSM again.
	if old, err := d.loadVolume(id); err == nil {
		return d.existingVolume(ctx, old, v, requestedFS, req.GetCapacityRange())
	} else if codeOf(err) != codes.NotFound {
		return nil, err
	}
	var src *snapshotRef
	if v.SourceSnapshot != "" {
		ref, err := d.findSnapshot(ctx, v.SourceSnapshot)
		if err != nil {
			return nil, err
		}
		src = &ref
	}
	if v.SourceVolume != "" {
		if _, err := d.loadReadyVolume(v.SourceVolume); err != nil {
			return nil, err
		}
	}

	// The content of a restore or clone is the source's file system; a volume recorded with
	// another one would fail to mount, or be formatted over, on its first stage.
	sourceID := v.SourceVolume
	if src != nil {
		sourceID = src.VolumeID
	}
	if sv, err := d.loadVolume(sourceID); access == "mount" && sourceID != "" && err == nil && sv.Access == "mount" && sv.FSType != "" {
		if requestedFS != "" && requestedFS != sv.FSType {
			return nil, errInvalid("the source %s holds a %s file system, the request asks for %s", sourceID, sv.FSType, requestedFS)
		}
		fsType, v.FSType = sv.FSType, sv.FSType
	}

	var minSize int64
	switch {
	case src != nil:
		minSize = src.SizeBytes
	case v.SourceVolume != "":
		sv, _ := d.loadVolume(v.SourceVolume)
		minSize = sv.SizeBytes
	}
	if v.SizeBytes, err = d.volumeSize(req.GetCapacityRange(), minSize, fsType); err != nil {
		return nil, err
	}
	releaseSpace, err := d.reserveSpace(v.SizeBytes)
	if err != nil {
		return nil, err
	}
	// Once the backing file exists (or creation failed), the file itself carries the promise.
	defer releaseSpace()

	// Creation runs to its end even if the caller gives up, so that a retry finds a volume
	// instead of starting a long clone again.
	mctx := context.WithoutCancel(ctx)
	switch {
	case src != nil:
		if err := d.startRestore(mctx, v, *src); err != nil {
			return nil, err
		}
		releaseSpace()
		return d.awaitRestore(ctx, v)
	case v.SourceVolume != "":
		if err := d.makeVolume(mctx, v, func(file string) error { return d.cloneInto(mctx, v.SourceVolume, file) }, phaseReady); err != nil {
			return nil, err
		}
	default:
		if err := d.makeVolume(mctx, v, nil, phaseReady); err != nil {
			return nil, err
		}
	}
	klog.InfoS("Volume created", "volumeID", v.ID, "name", v.Name, "bytes", v.SizeBytes, "sourceSnapshot", v.SourceSnapshot, "sourceVolume", v.SourceVolume)
	return &csi.CreateVolumeResponse{Volume: d.csiVolume(v)}, nil
}

// existingVolume answers a CreateVolume for a name that already has a record.
// A volume stays what it was created as: a request that differs in access type, file system
// or parameters asks for another volume under the same name.
func (d *Driver) existingVolume(ctx context.Context, old, want *volumeRecord, requestedFS string, r *csi.CapacityRange) (*csi.CreateVolumeResponse, error) {
	if old.SourceSnapshot != want.SourceSnapshot || old.SourceVolume != want.SourceVolume {
		return nil, errExists("volume %q exists with another content source", old.Name)
	}
	if old.Access != want.Access {
		return nil, errExists("volume %q exists with %s access, the request asks for %s", old.Name, old.Access, want.Access)
	}
	// Without an explicit file system a restore or clone took its source's, so only the default
	// of a volume without a source, or an explicit choice, can differ.
	wantFS := requestedFS
	if wantFS == "" && old.SourceSnapshot == "" && old.SourceVolume == "" {
		wantFS = want.FSType
	}
	if want.Access == "mount" && wantFS != "" && wantFS != old.FSType {
		return nil, errExists("volume %q exists with file system %s, the request asks for %s", old.Name, old.FSType, wantFS)
	}
	if !maps.Equal(old.Parameters, want.Parameters) {
		return nil, errExists("volume %q exists with other parameters", old.Name)
	}
	if (r.GetRequiredBytes() > 0 && old.SizeBytes < r.GetRequiredBytes()) || (r.GetLimitBytes() > 0 && old.SizeBytes > r.GetLimitBytes()) {
		return nil, errExists("volume %q exists with %d bytes, outside the requested range", old.Name, old.SizeBytes)
	}
	switch old.Phase {
	case phaseReady:
		return &csi.CreateVolumeResponse{Volume: d.csiVolume(old)}, nil
	case phaseRestoring:
		return d.awaitRestore(ctx, old)
	case phaseFailed:
		// Reported once; the record goes so that the next call starts a clean restore.
		if err := d.vols.remove(old.ID, old.ID); err != nil {
			return nil, err
		}
		return nil, newError(old.ErrorCode, nil, "restore of volume %s failed: %s", old.ID, old.Error)
	default:
		// A creation that a crash interrupted; recovery removes it, this call starts over.
		return nil, errAborted("volume %s is still being created", old.ID)
	}
}

func (d *Driver) csiVolume(v *volumeRecord) *csi.Volume {
	vol := &csi.Volume{
		VolumeId:           v.ID,
		CapacityBytes:      v.SizeBytes,
		AccessibleTopology: []*csi.Topology{d.topology()},
	}
	switch {
	case v.SourceSnapshot != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.SourceSnapshot}}}
	case v.SourceVolume != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.SourceVolume}}}
	}
	return vol
}

// maxVolumeSizeFor is the largest size CreateVolume accepts as is: a size it would round up
// past a limit would be refused, so the report is aligned down.
func maxVolumeSizeFor(limit, available int64) int64 {
	return min(limit, available) / sizeAlign * sizeAlign
}

// k8sParameterPrefix marks the parameters the external-provisioner adds itself (PVC name and
// namespace, PV name) when started with --extra-create-metadata; they are information, not
// requests, so they are accepted and ignored.
const k8sParameterPrefix = "csi.storage.k8s.io/"

// checkVolumeParameters refuses parameters the driver does not know: a StorageClass asking for
// something this driver would silently not do (a typo, a parameter of another driver) must fail
// loudly. CreateVolume knows no parameters of its own.
func checkVolumeParameters(p map[string]string) error {
	for k := range p {
		if !strings.HasPrefix(k, k8sParameterPrefix) {
			return errInvalid("unknown parameter %q", k)
		}
	}
	return nil
}

// cloneInto makes file a point-in-time copy of a volume's backing file.
func (d *Driver) cloneInto(ctx context.Context, srcID, file string) error {
	release, ok := d.inflight.acquire("vol:" + srcID)
	if !ok {
		return errAborted("an operation on source volume %s is in progress", srcID)
	}
	defer release()
	src, err := d.loadReadyVolume(srcID)
	if err != nil {
		return err
	}
	_, _, err = d.cut(ctx, src, file, false)
	return err
}

func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	known, err := checkVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if !known {
		return &csi.DeleteVolumeResponse{}, nil
	}
	id := req.GetVolumeId()
	// A restore in flight holds no lock: it is cancelled and waited for first.
	d.jobs.cancelAndWait("restore:" + id)
	release, ok := d.inflight.acquire("vol:" + id)
	if !ok {
		return nil, errAborted("an operation on volume %s is in progress", id)
	}
	defer release()
	_, err = d.loadVolume(id)
	if codeOf(err) == codes.NotFound {
		return &csi.DeleteVolumeResponse{}, d.destroyVolume(ctx, id)
	} else if err != nil {
		return nil, err
	}
	if inUse, err := d.inUseOnNode(id); err != nil {
		return nil, err
	} else if inUse {
		return nil, errPrecondition("volume %s is still staged or published on this node", id)
	}
	if s := d.liveUploadOf(id); s != "" {
		return nil, errPrecondition("snapshot %s is being uploaded from the live volume %s (--cut-fallback=live)", s, id)
	}
	if err := d.destroyVolume(ctx, id); err != nil {
		return nil, err
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	known, err := checkVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, errInvalid("volume capabilities missing")
	}
	if !known {
		return nil, errNotFound("volume %s not found", req.GetVolumeId())
	}
	v, err := d.loadVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if msg := capabilityMismatch(v, req.GetVolumeCapabilities(), req.GetParameters()); msg != "" {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: msg}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if _, err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
			return &csi.GetCapacityResponse{}, nil
		}
	}
	if !d.onThisNode(req.GetAccessibleTopology()) {
		return &csi.GetCapacityResponse{}, nil
	}
	atp, err := d.AvailableToPromise()
	if err != nil {
		return nil, err
	}
	resp := &csi.GetCapacityResponse{AvailableCapacity: atp}
	if d.opts.MaxVolumeSize > 0 {
		resp.MaximumVolumeSize = wrapperspb.Int64(maxVolumeSizeFor(d.opts.MaxVolumeSize, atp))
	}
	return resp, nil
}

func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	known, err := checkVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetCapacityRange() == nil {
		return nil, errInvalid("capacity range missing")
	}
	if !known {
		return nil, errNotFound("volume %s not found", req.GetVolumeId())
	}
	release, ok := d.inflight.acquire("vol:" + req.GetVolumeId())
	if !ok {
		return nil, errAborted("an operation on volume %s is in progress", req.GetVolumeId())
	}
	defer release()
	v, err := d.loadReadyVolume(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	size, err := d.volumeSize(req.GetCapacityRange(), v.SizeBytes, v.FSType)
	if err != nil {
		return nil, err
	}
	if size < req.GetCapacityRange().GetRequiredBytes() {
		return nil, errOutOfRange("volume %s cannot grow to %d bytes", v.ID, req.GetCapacityRange().GetRequiredBytes())
	}
	block := v.Access == "block"
	if c := req.GetVolumeCapability(); c != nil {
		block = c.GetBlock() != nil
	}
	if size > v.SizeBytes {
		releaseSpace, err := d.reserveSpace(size - v.SizeBytes)
		if err != nil {
			return nil, err
		}
		err = mount.GrowFile(d.backingFile(v.ID), size)
		releaseSpace()
		if err != nil {
			return nil, err
		}
		dev, err := d.device(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		if err := d.loops.Refresh(ctx, dev); err != nil {
			return nil, err
		}
		if _, err := d.vols.move(v.ID, v.ID, phaseReady, phaseReady, func(r *volumeRecord) { r.SizeBytes = size }); err != nil {
			return nil, err
		}
		v.SizeBytes = size
		klog.InfoS("Volume expanded", "volumeID", v.ID, "bytes", size)
	}
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: v.SizeBytes, NodeExpansionRequired: !block}, nil
}

func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, errInvalid("max_entries must not be negative")
	}
	after := ""
	if t := req.GetStartingToken(); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || !volumeIDPattern.Match(raw) {
			return nil, errAborted("invalid starting token %q", t)
		}
		after = string(raw)
	}
	keys, err := d.volumes.Keys()
	if err != nil {
		return nil, err
	}
	resp := &csi.ListVolumesResponse{}
	for _, k := range keys {
		if k <= after {
			continue
		}
		v, err := d.loadVolume(k)
		if err != nil || v.Phase != phaseReady {
			continue
		}
		if req.GetMaxEntries() > 0 && len(resp.Entries) == int(req.GetMaxEntries()) {
			last := resp.Entries[len(resp.Entries)-1].Volume.VolumeId
			resp.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last))
			break
		}
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: d.csiVolume(v)})
	}
	return resp, nil
}
