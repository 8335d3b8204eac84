package csi

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func TestGroupIDs(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	r := groupRef{Key: groupKeyFor("group-a"), Members: 3, CreatedAt: at}
	id := encodeGroupID(r)
	got, err := decodeGroupID(id)
	if err != nil || got != r {
		t.Fatalf("decode(encode(%+v)) = %+v, %v (id %q)", r, got, err, id)
	}
	for _, tc := range []struct {
		name, id string
	}{
		{"empty", ""},
		{"snapshot id", "tsm1:i::/dev/x"},
		{"other version", strings.Replace(id, "tsmg1:", "tsmg2:", 1)},
		{"upper-case key", strings.ToUpper(id)},
		{"short key", "tsmg1:0123:2:1"},
		{"no members", "tsmg1:0123456789abcdef:0:1"},
		{"member count with a leading zero", "tsmg1:0123456789abcdef:02:1"},
		{"time with a leading zero", "tsmg1:0123456789abcdef:2:01"},
		{"time past int64", "tsmg1:0123456789abcdef:2:8000000000000000"},
		{"trailing text", id + ":x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := decodeGroupID(tc.id); err == nil {
				t.Errorf("decodeGroupID(%q) = %+v, want an error", tc.id, r)
			}
		})
	}
}

// TestMemberKeysAreNoSnapshotName: a member's key derives from its group and volume and can
// never be the key of a snapshot a CO names, since no CSI name may hold NUL.
func TestMemberKeysAreNoSnapshotName(t *testing.T) {
	g, v := groupKeyFor("grp"), volumeIDFor("pvc")
	if err := checkName("snapshot name", g+"\x00"+v); err == nil {
		t.Fatal("a snapshot name with NUL is accepted: a CreateSnapshot could take a member's key")
	}
	if memberKeyFor(g, v) == memberKeyFor(g, volumeIDFor("pvc2")) || memberKeyFor(g, v) == memberKeyFor(groupKeyFor("grp2"), v) {
		t.Fatal("member keys of different groups or volumes coincide")
	}
}

func groupRequest(name string, vols ...*volumeRecord) *csi.CreateVolumeGroupSnapshotRequest {
	req := &csi.CreateVolumeGroupSnapshotRequest{Name: name}
	for _, v := range vols {
		req.SourceVolumeIds = append(req.SourceVolumeIds, v.ID)
	}
	return req
}

func TestGroupRequestsRefused(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	a := addVolume(t, d, "pvc-a", []byte("a"))
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"create without a name", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{SourceVolumeIds: []string{a.ID}})
			return err
		}, codes.InvalidArgument},
		{"create with a control character in the name", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{Name: "g\x01", SourceVolumeIds: []string{a.ID}})
			return err
		}, codes.InvalidArgument},
		{"create without volumes", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{Name: "g"})
			return err
		}, codes.InvalidArgument},
		{"create with a volume twice", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), groupRequest("g", a, a))
			return err
		}, codes.InvalidArgument},
		{"create with a path in a volume id", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{Name: "g", SourceVolumeIds: []string{a.ID, "../x"}})
			return err
		}, codes.InvalidArgument},
		{"create with an unknown parameter", func() error {
			req := groupRequest("g", a)
			req.Parameters = map[string]string{"speed": "fast"}
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), req)
			return err
		}, codes.InvalidArgument},
		{"create with a volume of no node", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{Name: "g", SourceVolumeIds: []string{a.ID, volumeIDFor("elsewhere")}})
			return err
		}, codes.NotFound},
		{"create with a foreign volume id", func() error {
			_, err := d.CreateVolumeGroupSnapshot(t.Context(), &csi.CreateVolumeGroupSnapshotRequest{Name: "g", SourceVolumeIds: []string{a.ID, "foreign-volume"}})
			return err
		}, codes.NotFound},
		{"get without an id", func() error {
			_, err := d.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{})
			return err
		}, codes.InvalidArgument},
		{"get of a foreign id", func() error {
			_, err := d.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: "fake-group"})
			return err
		}, codes.NotFound},
		{"get of an unknown group without member ids", func() error {
			_, err := d.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: "tsmg1:0123456789abcdef:2:1"})
			return err
		}, codes.InvalidArgument},
		{"delete without an id", func() error {
			_, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{})
			return err
		}, codes.InvalidArgument},
		{"delete of a foreign id", func() error {
			_, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: "fake-group"})
			return err
		}, codes.OK},
		{"delete of an unknown group without member ids", func() error {
			_, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: "tsmg1:0123456789abcdef:2:1"})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); codeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
		})
	}
	assertNoGroupLeftovers(t, d, f, groupKeyFor("g"), a)
}

// pollGroupUntilReady repeats CreateVolumeGroupSnapshot as csi-snapshotter does.
func pollGroupUntilReady(t *testing.T, d *Driver, req *csi.CreateVolumeGroupSnapshotRequest) *csi.VolumeGroupSnapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := d.CreateVolumeGroupSnapshot(t.Context(), req)
		if err != nil {
			t.Fatalf("CreateVolumeGroupSnapshot: %v", err)
		}
		// Ready is recorded before an upload releases its cut; the job ends after both.
		for _, s := range resp.GroupSnapshot.Snapshots {
			ref, _ := d.codec.decode(s.SnapshotId)
			d.jobs.wait(t.Context(), "upload:"+ref.Key)
		}
		if resp.GroupSnapshot.ReadyToUse {
			return resp.GroupSnapshot
		}
	}
	t.Fatalf("group snapshot %s not ready after 30 s", req.Name)
	return nil
}

// TestGroupSnapshotRoundTrip: a group of two volumes is cut at one time, answered not ready
// until both uploads are done, holds each volume's data as it was at the cut, answers retries
// with the same group, is found by Get here and on a node that never saw it, restores member
// by member, and is deleted with every member, in TSM too.
func TestGroupSnapshotRoundTrip(t *testing.T) {
	f := newFakeTSM()
	f.hold = make(chan struct{})
	d := testDriver(t, "", f)
	before := map[string][]byte{}
	a := addVolume(t, d, "pvc-db", []byte(strings.Repeat("database ", 900)))
	b := addVolume(t, d, "pvc-log", []byte(strings.Repeat("log ", 700)))
	for _, v := range []*volumeRecord{a, b} {
		before[v.ID], _ = os.ReadFile(d.backingFile(v.ID))
	}
	req := groupRequest("grp-1", b, a)
	first, err := d.CreateVolumeGroupSnapshot(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	g := first.GroupSnapshot
	// Written after the cut: never part of the group.
	for _, v := range []*volumeRecord{a, b} {
		if err := os.WriteFile(d.backingFile(v.ID), bytes.Repeat([]byte("AFTER "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if g.ReadyToUse || len(g.Snapshots) != 2 {
		t.Fatalf("first answer: %v, want two members, not ready while uploads wait", g)
	}
	r, err := decodeGroupID(g.GroupSnapshotId)
	if err != nil || r.Members != 2 || !r.CreatedAt.Equal(g.CreationTime.AsTime()) {
		t.Fatalf("group id %q: %+v, %v", g.GroupSnapshotId, r, err)
	}
	var sources []string
	for _, s := range g.Snapshots {
		if !s.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) || s.GroupSnapshotId != g.GroupSnapshotId || s.ReadyToUse {
			t.Errorf("member %v: want the group's creation time and id, not ready", s)
		}
		sources = append(sources, s.SourceVolumeId)
	}
	if !sameSet(sources, []string{a.ID, b.ID}) {
		t.Errorf("members of volumes %v, want %s and %s", sources, a.ID, b.ID)
	}
	close(f.hold)

	ready := pollGroupUntilReady(t, d, req)
	if ready.GroupSnapshotId != g.GroupSnapshotId || !ready.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) {
		t.Fatalf("retried CreateVolumeGroupSnapshot changed id or time: %v then %v", g, ready)
	}
	memberIDs := make([]string, 0, 2)
	for _, s := range ready.Snapshots {
		if !s.ReadyToUse {
			t.Errorf("member %s not ready in a ready group", s.SnapshotId)
		}
		memberIDs = append(memberIDs, s.SnapshotId)
		ref, _ := d.codec.decode(s.SnapshotId)
		if got := f.versions(ref.Object); len(got) != 1 || got[0] != digestBytes(before[s.SourceVolumeId]) {
			t.Errorf("member of %s: TSM holds %v, want exactly the data at the cut", s.SourceVolumeId, got)
		}
		if _, err := os.Stat(d.cutFile(ref.Key)); !os.IsNotExist(err) {
			t.Errorf("the cut of %s outlived its upload: %v", s.SourceVolumeId, err)
		}
		// Each member describes itself in TSM like any snapshot, with the group's time.
		if m, _ := storedMeta(t, d, f, s.SnapshotId); m.SourceVolumeID != s.SourceVolumeId || m.AccessType != "block" || m.Group != "grp-1" ||
			!m.CreationTime.Equal(g.CreationTime.AsTime()) || m.Digest == nil || m.Digest.Root != digestOfBytes(t, before[s.SourceVolumeId]) {
			t.Errorf("metadata of the member of %s: %+v", s.SourceVolumeId, m)
		}
	}

	for _, tc := range []struct {
		name   string
		req    *csi.CreateVolumeGroupSnapshotRequest
		code   codes.Code
		sameID bool
	}{
		{"same volumes in another order", groupRequest("grp-1", a, b), codes.OK, true},
		{"one volume less", groupRequest("grp-1", a), codes.AlreadyExists, false},
		{"another mode", &csi.CreateVolumeGroupSnapshotRequest{Name: "grp-1", SourceVolumeIds: req.SourceVolumeIds, Parameters: map[string]string{ModeParameter: "image"}}, codes.AlreadyExists, false},
	} {
		t.Run("retry with "+tc.name, func(t *testing.T) {
			resp, err := d.CreateVolumeGroupSnapshot(t.Context(), tc.req)
			if codeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
			if tc.sameID && resp.GroupSnapshot.GroupSnapshotId != g.GroupSnapshotId {
				t.Fatalf("answered group %s, want %s", resp.GroupSnapshot.GroupSnapshotId, g.GroupSnapshotId)
			}
		})
	}

	other := testDriver(t, "", f) // a node that never saw the group
	swapped := []string{memberIDs[1], memberIDs[0]}
	for _, tc := range []struct {
		name string
		d    *Driver
		ids  []string
		code codes.Code
	}{
		{"here with the member ids", d, memberIDs, codes.OK},
		{"here without member ids", d, nil, codes.OK},
		{"here with one member id", d, memberIDs[:1], codes.InvalidArgument},
		{"elsewhere with the member ids", other, swapped, codes.OK},
		{"elsewhere without member ids", other, nil, codes.InvalidArgument},
		{"elsewhere with one member id twice", other, []string{memberIDs[0], memberIDs[0]}, codes.InvalidArgument},
		{"elsewhere with a snapshot of another group", other, []string{memberIDs[0], strings.Replace(memberIDs[1], ref0Key(t, d, memberIDs[1]), "0123456789abcdef", 1)}, codes.InvalidArgument},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			resp, err := tc.d.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: tc.ids})
			if codeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
			if err != nil {
				return
			}
			got := resp.GroupSnapshot
			if !got.ReadyToUse || !got.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) || len(got.Snapshots) != 2 {
				t.Fatalf("answered %v, want the ready group of two taken at %v", got, g.CreationTime.AsTime())
			}
			for _, s := range got.Snapshots {
				if !s.CreationTime.AsTime().Equal(g.CreationTime.AsTime()) || s.GroupSnapshotId != g.GroupSnapshotId {
					t.Errorf("member %v: want the group's creation time and id", s)
				}
			}
		})
	}

	// Each member restores on its own, on the node that never saw the group.
	for _, s := range ready.Snapshots {
		vol, err := createUntilDone(t, other, restoreRequest("restored-"+s.SourceVolumeId, s.SnapshotId, 1<<20))
		if err != nil {
			t.Fatalf("restore of member %s: %v", s.SnapshotId, err)
		}
		want := before[s.SourceVolumeId]
		if got, _ := os.ReadFile(other.backingFile(vol.VolumeId)); len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
			t.Errorf("the restore of the member of %s does not hold the data at the cut", s.SourceVolumeId)
		}
	}

	if _, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs[:1]}); codeOf(err) != codes.InvalidArgument {
		t.Fatalf("DeleteVolumeGroupSnapshot with one of two member ids: %v, want InvalidArgument", err)
	}
	for i := range 2 {
		if _, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs}); err != nil {
			t.Fatalf("DeleteVolumeGroupSnapshot #%d: %v", i+1, err)
		}
	}
	assertNoGroupLeftovers(t, d, f, groupKeyFor("grp-1"), a, b)
	for _, x := range []*Driver{d, other} {
		if _, err := x.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs}); codeOf(err) != codes.NotFound {
			t.Errorf("GetVolumeGroupSnapshot after the delete: %v, want NotFound", err)
		}
	}
	// Deleted elsewhere too, from the ids alone: nothing is left to find.
	if _, err := other.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: memberIDs}); err != nil {
		t.Fatalf("DeleteVolumeGroupSnapshot of a deleted group elsewhere: %v", err)
	}
}

// digestOfBytes is the catalog digest of data, as the upload computes it for a cut.
func digestOfBytes(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := catalog.Sum(t.Context(), p, int64(len(data)), 1)
	if err != nil {
		t.Fatal(err)
	}
	return sum.Root
}

// ref0Key is the key digits of a snapshot id, to forge an id of another group.
func ref0Key(t *testing.T, d *Driver, id string) string {
	t.Helper()
	ref, err := d.codec.decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(ref.Key, "s")
}

// assertNoGroupLeftovers checks that nothing of group key is left: its record, its members'
// records, cuts and TSM objects, and any freeze record.
func assertNoGroupLeftovers(t *testing.T, d *Driver, f *fakeTSM, key string, vols ...*volumeRecord) {
	t.Helper()
	if g, err := d.groups.get(key); err == nil {
		t.Errorf("group record left: %+v", g)
	}
	for _, v := range vols {
		mkey := memberKeyFor(key, v.ID)
		if s, err := d.loadSnapshot(mkey); err == nil {
			t.Errorf("member record of %s left: %+v", v.ID, s)
		}
		for _, mode := range []tsm.Mode{tsm.ModeFile, tsm.ModeImage} {
			ref := d.codec.ref(mode, "", mkey, v.ID, v.SizeBytes)
			for _, object := range []string{ref.Object, d.codec.metaObject(ref)} {
				if got := f.versions(object); len(got) > 0 {
					t.Errorf("TSM holds %s of the member of %s: %v", object, v.ID, got)
				}
			}
		}
	}
	if cuts, _ := os.ReadDir(d.cutDir); len(cuts) > 0 {
		t.Errorf("cuts left: %v", cuts)
	}
	if keys, _ := d.freezes.Keys(); len(keys) > 0 {
		t.Errorf("freeze records left: %v", keys)
	}
}

// TestFailedMemberCutLeavesNothing: when the cut of any member fails (here its cut file is in
// the way), the cuts already made are removed, every record goes, nothing reaches TSM, and the
// next call cuts the whole group anew.
func TestFailedMemberCutLeavesNothing(t *testing.T) {
	for _, failing := range []int{0, 1, 2} {
		t.Run("member "+string(rune('1'+failing)), func(t *testing.T) {
			f := newFakeTSM()
			d := testDriver(t, "", f)
			vols := []*volumeRecord{
				addVolume(t, d, "pvc-x", []byte(strings.Repeat("x", 5000))),
				addVolume(t, d, "pvc-y", []byte(strings.Repeat("y", 6000))),
				addVolume(t, d, "pvc-z", []byte(strings.Repeat("z", 7000))),
			}
			req := groupRequest("grp-fail", vols...)
			gkey := groupKeyFor(req.Name)
			ids := slices.Clone(req.SourceVolumeIds)
			slices.Sort(ids) // members are cut in the order of their volume ids
			if err := os.WriteFile(d.cutFile(memberKeyFor(gkey, ids[failing])), []byte("in the way"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := d.CreateVolumeGroupSnapshot(t.Context(), req); err == nil {
				t.Fatal("a group whose member cut failed was answered")
			}
			assertNoGroupLeftovers(t, d, f, gkey, vols...)
			g := pollGroupUntilReady(t, d, req)
			if len(g.Snapshots) != len(vols) {
				t.Fatalf("the next call's group: %v", g)
			}
		})
	}
}

// TestInterruptedGroupCutIsRemovedAtStart: a driver killed after some members were recorded
// uploading but before the group was recorded cut never answered the group; the next start
// removes the group with all its members and uploads none of them.
func TestInterruptedGroupCutIsRemovedAtStart(t *testing.T) {
	f := newFakeTSM()
	dir := shortDir(t)
	d := testDriver(t, dir, f)
	a := addVolume(t, d, "pvc-a", []byte(strings.Repeat("a", 4096)))
	b := addVolume(t, d, "pvc-b", []byte(strings.Repeat("b", 4096)))
	gkey := groupKeyFor("grp-crash")
	g := &groupRecord{Key: gkey, Name: "grp-crash", Mode: tsm.ModeFile}
	for i, v := range []*volumeRecord{a, b} {
		key := memberKeyFor(gkey, v.ID)
		ref := d.codec.ref(tsm.ModeFile, "", key, v.ID, v.SizeBytes)
		id, err := d.codec.encode(ref)
		if err != nil {
			t.Fatal(err)
		}
		g.Members = append(g.Members, groupMember{VolumeID: v.ID, Key: key, SnapshotID: id})
		s := &snapshotRecord{Key: key, Name: "grp-crash/" + v.ID, ID: id, SourceVolumeID: v.ID, Mode: tsm.ModeFile, Object: ref.Object, SizeBytes: v.SizeBytes}
		if err := d.snaps.create(key, s, snapCutting); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.cutFile(key), []byte("cut"), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // the first member was recorded uploading already
			if _, err := d.snaps.move(key, id, snapCutting, snapUploading, func(s *snapshotRecord) { s.Cut = cutCopied }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := d.groups.create(gkey, g, groupCutting); err != nil {
		t.Fatal(err)
	}
	d.Stop()

	d2 := testDriver(t, dir, f)
	assertNoGroupLeftovers(t, d2, f, gkey, a, b)
	for _, m := range g.Members {
		if d2.jobs.running("upload:" + m.Key) {
			t.Errorf("the upload of member %s was resumed", m.SnapshotID)
		}
	}
	f.mu.Lock()
	runs := len(f.runs)
	f.mu.Unlock()
	if runs != 0 {
		t.Errorf("dsmc ran %d backups of an unanswered group", runs)
	}
}

// TestGroupOfAVolumeInUseWithoutFileSystem: a volume in use whose writes cannot be held (a raw
// block volume) cannot share a point in time with others; alone it can, as for CreateSnapshot.
func TestGroupOfAVolumeInUseWithoutFileSystem(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	a := addVolume(t, d, "pvc-a", []byte(strings.Repeat("a", 4096)))
	b := addVolume(t, d, "pvc-b", []byte(strings.Repeat("b", 4096)))
	if err := d.saveNode(&nodeRecord{ID: b.ID, StagingPath: "/staging/b", Access: "block", Targets: []nodeTarget{{Path: "/pod/b"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *csi.CreateVolumeGroupSnapshotRequest
		code codes.Code
	}{
		{"with another volume", groupRequest("grp-ab", a, b), codes.FailedPrecondition},
		{"alone", groupRequest("grp-b", b), codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := d.CreateVolumeGroupSnapshot(t.Context(), tc.req); codeOf(err) != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
			if tc.code == codes.OK {
				pollGroupUntilReady(t, d, tc.req)
			}
		})
	}
	assertNoGroupLeftovers(t, d, f, groupKeyFor("grp-ab"), a, b)
}

// TestGroupWithAMemberDeletedOnItsOwn: a member deleted with DeleteSnapshot leaves a group that
// can no longer be answered: a retried create says to delete the group and take a new one, Get
// answers NOT_FOUND, and DeleteVolumeGroupSnapshot still removes the rest.
func TestGroupWithAMemberDeletedOnItsOwn(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	a := addVolume(t, d, "pvc-a", []byte(strings.Repeat("a", 4096)))
	b := addVolume(t, d, "pvc-b", []byte(strings.Repeat("b", 4096)))
	req := groupRequest("grp-split", a, b)
	g := pollGroupUntilReady(t, d, req)
	ids := make([]string, len(g.Snapshots))
	for i, s := range g.Snapshots {
		ids[i] = s.SnapshotId
	}
	if _, err := d.DeleteSnapshot(t.Context(), &csi.DeleteSnapshotRequest{SnapshotId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateVolumeGroupSnapshot(t.Context(), req); codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "take a new one") {
		t.Errorf("retried create: %v, want FailedPrecondition saying to take a new group", err)
	}
	if _, err := d.GetVolumeGroupSnapshot(t.Context(), &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: ids}); codeOf(err) != codes.NotFound {
		t.Errorf("get: %v, want NotFound", err)
	}
	if _, err := d.DeleteVolumeGroupSnapshot(t.Context(), &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: g.GroupSnapshotId, SnapshotIds: ids}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertNoGroupLeftovers(t, d, f, groupKeyFor(req.Name), a, b)
}
