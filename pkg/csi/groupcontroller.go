package csi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
)

// Group snapshots: one point in time across the volumes of one node. The mounted file systems
// of all members are frozen, every member is cut, all are thawed, and each cut is then uploaded
// as an ordinary snapshot with an ordinary snapshot id, so that a restore is CreateVolume from
// one member snapshot as for any other. Ids are described in grouphandle.go, the record in
// groupbook.go.

func (d *Driver) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return &csi.GroupControllerGetCapabilitiesResponse{Capabilities: []*csi.GroupControllerServiceCapability{{
		Type: &csi.GroupControllerServiceCapability_Rpc{Rpc: &csi.GroupControllerServiceCapability_RPC{
			Type: csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT,
		}},
	}}}, nil
}

// checkGroupSources validates the source volume ids of a group and returns them sorted (the
// order of the members everywhere), and whether each can be a volume of this driver.
func checkGroupSources(ids []string) (sorted []string, known map[string]bool, err error) {
	if len(ids) == 0 {
		return nil, nil, errInvalid("source volume ids missing")
	}
	known = map[string]bool{}
	for _, id := range ids {
		k, err := checkVolumeID(id)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := known[id]; dup {
			return nil, nil, errInvalid("source volume %s named twice", id)
		}
		known[id] = k
	}
	sorted = slices.Clone(ids)
	slices.Sort(sorted)
	return sorted, known, nil
}

func (d *Driver) CreateVolumeGroupSnapshot(ctx context.Context, req *csi.CreateVolumeGroupSnapshotRequest) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	if err := checkName("group snapshot name", req.GetName()); err != nil {
		return nil, err
	}
	vols, known, err := checkGroupSources(req.GetSourceVolumeIds())
	if err != nil {
		return nil, err
	}
	mode, err := snapshotMode(req.GetParameters(), d.opts.DefaultMode)
	if err != nil {
		return nil, err
	}
	gkey := groupKeyFor(req.GetName())
	// The members' keys too: a DeleteSnapshot of a member waits for the group's call.
	guard := []string{"group:" + gkey}
	for _, id := range vols {
		guard = append(guard, "snap:"+memberKeyFor(gkey, id))
	}
	release, ok := d.inflight.acquire(guard...)
	if !ok {
		return nil, errAborted("an operation on group snapshot %q or one of its members is in progress", req.GetName())
	}
	defer release()

	g, err := d.groups.get(gkey)
	switch {
	case err == nil && g.Phase == groupCutting:
		// A cut whose cleanup failed: nothing was answered for it, so a new cut is still the
		// point in time this call asks for.
		if err := d.removeGroupLeftovers(ctx, g); err != nil {
			return nil, err
		}
	case err == nil:
		if !slices.Equal(g.volumeIDs(), vols) {
			return nil, errExists("group snapshot %q exists for volumes %s", req.GetName(), strings.Join(g.volumeIDs(), ", "))
		}
		if g.Mode != mode {
			return nil, errExists("group snapshot %q exists in %s mode", req.GetName(), g.Mode)
		}
		return d.answerGroup(g)
	case !errors.Is(err, state.ErrNotFound):
		return nil, err
	}

	for _, id := range vols {
		if !known[id] {
			return nil, errNotFound("source volume %s not found on this node (a group snapshot takes volumes of one node)", id)
		}
	}
	volGuard := make([]string, len(vols))
	for i, id := range vols {
		volGuard[i] = "vol:" + id
	}
	releaseVols, ok := d.inflight.acquire(volGuard...)
	if !ok {
		return nil, errAborted("an operation on one of the volumes %s is in progress", strings.Join(vols, ", "))
	}
	defer releaseVols()

	g = &groupRecord{Key: gkey, Name: req.GetName(), Mode: mode}
	cuts := make([]*memberCut, len(vols))
	snaps := make([]*snapshotRecord, len(vols))
	for i, id := range vols {
		v, err := d.loadReadyVolume(id)
		if err != nil {
			return nil, err
		}
		staged, err := d.stagedAt(id)
		if err != nil {
			return nil, err
		}
		if staged == "" && len(vols) > 1 {
			inUse, err := d.inUseOnNode(id)
			if err != nil {
				return nil, err
			}
			if inUse {
				return nil, errPrecondition("volume %s is in use without a mounted file system (a raw block volume, or its file system is not mounted where it was staged): its writes cannot be held, so it cannot share one point in time with other volumes", id)
			}
		}
		key := memberKeyFor(gkey, id)
		ref := d.codec.ref(mode, d.tsm.AsNodeName(), key, id, v.SizeBytes)
		sid, err := d.codec.encode(ref)
		if err != nil {
			return nil, errInvalid("%v", err)
		}
		g.Members = append(g.Members, groupMember{VolumeID: id, Key: key, SnapshotID: sid})
		cuts[i] = &memberCut{v: v, staged: staged, dst: d.cutFile(key)}
		snaps[i] = &snapshotRecord{
			Key: key, Name: req.GetName() + "/" + id, ID: sid, SourceVolumeID: id, Mode: mode,
			Object: ref.Object, SizeBytes: v.SizeBytes, Access: v.Access, FSType: v.FSType,
			Group: req.GetName(),
		}
	}

	if err := d.groups.create(gkey, g, groupCutting); err != nil {
		return nil, err
	}
	undo := func(cause error) error {
		if cerr := d.removeGroupLeftovers(context.WithoutCancel(ctx), g); cerr != nil {
			klog.ErrorS(cerr, "Cleanup after a failed group cut; the rest is removed at the next start", "groupSnapshotName", g.Name)
		}
		return cause
	}
	for _, s := range snaps {
		if err := d.snaps.create(s.Key, s, snapCutting); err != nil {
			return nil, undo(err)
		}
	}
	// Like a single cut, the group cut runs to its end even if the caller gives up; retries
	// meanwhile get ABORTED from the in-flight guard.
	at, err := d.cutGroup(context.WithoutCancel(ctx), cuts)
	if err != nil {
		return nil, undo(err)
	}
	gid := encodeGroupID(groupRef{Key: gkey, Members: len(vols), CreatedAt: at})
	for i, s := range snaps {
		s, err = d.snaps.move(s.Key, s.ID, snapCutting, snapUploading, func(s *snapshotRecord) {
			s.Cut, s.CreatedAt = cuts[i].how, at
		})
		if err != nil {
			return nil, undo(err)
		}
		snaps[i] = s
	}
	g, err = d.groups.move(gkey, "", groupCutting, groupCut, func(g *groupRecord) {
		g.ID, g.CreatedAt = gid, at
	})
	if err != nil {
		// Not recorded: nothing was answered, so the cuts go and the next call cuts anew.
		return nil, undo(err)
	}
	members := make([]*csi.Snapshot, len(snaps))
	for i, s := range snaps {
		// Started only once recorded; the in-flight guard keeps every other call out meanwhile.
		d.startUpload(s)
		members[i] = d.snapshotOf(s)
	}
	klog.InfoS("Group snapshot cut", "groupSnapshotID", gid, "volumeIDs", vols, "snapshotIDs", g.snapshotIDs(), "frozen", countFrozen(cuts))
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: d.groupSnapshotOf(gid, at, members)}, nil
}

func countFrozen(cuts []*memberCut) int {
	n := 0
	for _, c := range cuts {
		if c.staged != "" {
			n++
		}
	}
	return n
}

// answerGroup answers a retried CreateVolumeGroupSnapshot of a group that is cut: each member
// as a retried CreateSnapshot would be answered (a failed upload reported once, then the next
// run of the same cut), the group ready when all members are.
func (d *Driver) answerGroup(g *groupRecord) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	members := make([]*csi.Snapshot, 0, len(g.Members))
	for _, m := range g.Members {
		s, err := d.loadSnapshot(m.Key)
		if errors.Is(err, state.ErrNotFound) || (err == nil && s.ID != m.SnapshotID) {
			return nil, errPrecondition("member snapshot %s of group snapshot %q was deleted on its own; delete the group snapshot and take a new one", m.SnapshotID, g.Name)
		} else if err != nil {
			return nil, err
		}
		switch s.Phase {
		case snapUploading:
			resp, err := d.answerUploading(s)
			if err != nil {
				return nil, err
			}
			members = append(members, resp.Snapshot)
		case snapLost:
			return nil, errPrecondition("group snapshot %q can never be completed: member snapshot %s: %s; delete it and take a new one", g.Name, s.ID, s.Error)
		default:
			members = append(members, d.snapshotOf(s))
		}
	}
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: d.groupSnapshotOf(g.ID, g.CreatedAt, members)}, nil
}

// groupSnapshotOf is the CSI answer for a group: every member carries the group's id and its
// one creation time, and the group is ready when every member is.
func (d *Driver) groupSnapshotOf(id string, created time.Time, members []*csi.Snapshot) *csi.VolumeGroupSnapshot {
	ready := true
	out := make([]*csi.Snapshot, len(members))
	for i, s := range members {
		s = proto.CloneOf(s)
		s.GroupSnapshotId, s.CreationTime = id, timestamppb.New(created)
		ready = ready && s.ReadyToUse
		out[i] = s
	}
	return &csi.VolumeGroupSnapshot{GroupSnapshotId: id, Snapshots: out, CreationTime: timestamppb.New(created), ReadyToUse: ready}
}

// removeGroupLeftovers undoes a group that was never answered: every member's link, loop
// device, cut and record, then the group's record.
func (d *Driver) removeGroupLeftovers(ctx context.Context, g *groupRecord) error {
	for _, m := range g.Members {
		s, err := d.loadSnapshot(m.Key)
		switch {
		case err == nil && s.ID == m.SnapshotID:
			if err := d.removeSnapshotLeftovers(ctx, s); err != nil {
				return err
			}
		case err != nil && !errors.Is(err, state.ErrNotFound):
			return err
		}
		if err := removeIfExists(d.cutFile(m.Key)); err != nil {
			return err
		}
	}
	return d.groups.remove(g.Key, g.ID)
}

// recoverGroups removes the groups whose cut a crash interrupted, with all their members,
// before the snapshot recovery would resume the uploads of members already recorded.
func (d *Driver) recoverGroups(ctx context.Context) error {
	keys, err := d.groups.keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		g, err := d.groups.get(k)
		if err != nil {
			klog.ErrorS(err, "Unreadable group snapshot record", "key", k)
			continue
		}
		if g.Phase != groupCutting {
			continue
		}
		klog.InfoS("Removing a group snapshot whose cut was interrupted", "groupSnapshotName", g.Name, "volumeIDs", g.volumeIDs())
		if err := d.removeGroupLeftovers(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// groupMembers finds the member snapshot ids of group id: from the record of the node that
// took it, or else from the request, checked against the id. gone says that this node holds
// a newer group under the same name, so the group of this id was deleted here.
func (d *Driver) groupMembers(r groupRef, id string, requested []string) (ids []string, local *groupRecord, gone bool, err error) {
	g, err := d.groups.get(r.Key)
	switch {
	case err == nil && g.ID == id:
		if len(requested) > 0 && !sameSet(requested, g.snapshotIDs()) {
			return nil, nil, false, errInvalid("snapshot ids %s are not the members of group snapshot %s: %s", strings.Join(requested, ", "), id, strings.Join(g.snapshotIDs(), ", "))
		}
		return g.snapshotIDs(), g, false, nil
	case err == nil:
		return nil, nil, true, nil
	case !errors.Is(err, state.ErrNotFound):
		return nil, nil, false, err
	}
	if err := d.codec.checkMembers(r, requested); err != nil {
		return nil, nil, false, err
	}
	return requested, nil, false, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (d *Driver) DeleteVolumeGroupSnapshot(ctx context.Context, req *csi.DeleteVolumeGroupSnapshotRequest) (*csi.DeleteVolumeGroupSnapshotResponse, error) {
	id := req.GetGroupSnapshotId()
	if id == "" {
		return nil, errInvalid("group snapshot id missing")
	}
	r, err := decodeGroupID(id)
	if err != nil {
		// Not an id this driver could have made: nothing of it exists.
		klog.V(4).InfoS("DeleteVolumeGroupSnapshot of a foreign id", "groupSnapshotID", id, "reason", err.Error())
		return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
	}
	release, ok := d.inflight.acquire("group:" + r.Key)
	if !ok {
		return nil, errAborted("an operation on group snapshot %s is in progress", id)
	}
	defer release()
	ids, local, gone, err := d.groupMembers(r, id, req.GetSnapshotIds())
	if err != nil {
		return nil, err
	}
	if gone {
		klog.InfoS("Group snapshot already deleted; its name now belongs to a newer group", "groupSnapshotID", id)
		return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
	}
	for _, sid := range ids {
		if _, err := d.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: sid}); err != nil {
			return nil, fmt.Errorf("delete member snapshot %s of group snapshot %s: %w", sid, id, err)
		}
	}
	if local != nil {
		if err := d.groups.remove(r.Key, id); err != nil {
			return nil, err
		}
	}
	klog.InfoS("Group snapshot deleted", "groupSnapshotID", id, "snapshotIDs", ids)
	return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
}

func (d *Driver) GetVolumeGroupSnapshot(ctx context.Context, req *csi.GetVolumeGroupSnapshotRequest) (*csi.GetVolumeGroupSnapshotResponse, error) {
	id := req.GetGroupSnapshotId()
	if id == "" {
		return nil, errInvalid("group snapshot id missing")
	}
	r, err := decodeGroupID(id)
	if err != nil {
		return nil, errNotFound("group snapshot %q not found: %v", id, err)
	}
	ids, _, gone, err := d.groupMembers(r, id, req.GetSnapshotIds())
	if err != nil {
		return nil, err
	}
	if gone {
		return nil, errNotFound("group snapshot %s not found: it was deleted and its name taken by a newer group", id)
	}
	members := make([]*csi.Snapshot, 0, len(ids))
	for _, sid := range ids {
		resp, err := d.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: sid})
		if codeOf(err) == codes.NotFound {
			return nil, errNotFound("group snapshot %s not found: its member snapshot %s is gone", id, sid)
		} else if err != nil {
			return nil, err
		}
		members = append(members, resp.Snapshot)
	}
	return &csi.GetVolumeGroupSnapshotResponse{GroupSnapshot: d.groupSnapshotOf(id, r.CreatedAt, members)}, nil
}
