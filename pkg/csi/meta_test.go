package csi

import (
	"bytes"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/catalog"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// storedMeta reads the metadata object TSM holds for a snapshot id.
func storedMeta(t *testing.T, d *Driver, f *fakeTSM, id string) (*catalog.Meta, string) {
	t.Helper()
	ref, err := d.codec.decode(id)
	if err != nil {
		t.Fatal(err)
	}
	object := d.codec.metaObject(ref)
	f.mu.Lock()
	b, ok := f.data[object]
	f.mu.Unlock()
	if !ok {
		t.Fatalf("TSM holds no metadata object %s", object)
	}
	m, err := catalog.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return m, object
}

func TestSnapshotStoresItsMetadata(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	data := make([]byte, 2*catalog.ChunkSize+4096)
	_, _ = rand.Read(data[:1<<20])
	v := addVolume(t, d, "src-meta", data)
	snap, errs := pollUntilReady(t, d, &csi.CreateSnapshotRequest{Name: "snap-meta", SourceVolumeId: v.ID, Parameters: map[string]string{
		paramSnapshotName: "db-nightly", paramSnapshotNamespace: "prod", paramSnapshotContent: "snapcontent-42",
	}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, object := storedMeta(t, d, f, snap.SnapshotId)
	want, err := catalog.Sum(t.Context(), d.backingFile(v.ID), int64(len(data)), 1)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case m.SnapshotID != snap.SnapshotId || m.SourceVolumeID != v.ID || m.SizeBytes != int64(len(data)):
		t.Errorf("metadata names %s of %s (%d bytes)", m.SnapshotID, m.SourceVolumeID, m.SizeBytes)
	case m.Digest == nil || m.Digest.Root != want.Root:
		t.Errorf("digest %+v is not the digest of the cut (%s)", m.Digest, want.Root)
	case m.Kubernetes == nil || *m.Kubernetes != (catalog.KubeRef{VolumeSnapshotName: "db-nightly", VolumeSnapshotNamespace: "prod", VolumeSnapshotContent: "snapcontent-42"}):
		t.Errorf("Kubernetes names %+v", m.Kubernetes)
	case m.AccessType != "block" || m.Mode != "file" || m.Node != "n1" || !m.CreationTime.Equal(snap.CreationTime.AsTime()):
		t.Errorf("metadata %+v", m)
	}
	if !strings.HasPrefix(object, d.opts.MetaDir+"/") {
		t.Errorf("metadata object %s outside %s", object, d.opts.MetaDir)
	}

	if _, err := d.DeleteSnapshot(t.Context(), &csi.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.versions(object)); n != 0 {
		t.Errorf("DeleteSnapshot left %d versions of the metadata object", n)
	}
}

// TestSnapshotNotReadyWithoutMetadata: the snapshot turns ready only when both objects are in
// TSM; a failed metadata upload keeps the cut, and the retry stores the metadata without
// sending the data again, unless TSM has lost the data meanwhile.
func TestSnapshotNotReadyWithoutMetadata(t *testing.T) {
	for _, tc := range []struct {
		name      string
		loseData  bool
		dataRuns  int
		errorsLen int
	}{
		{"data kept", false, 1, 1},
		{"data lost before the retry", true, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTSM()
			d := testDriver(t, "", f)
			data := []byte(strings.Repeat("m", 8192))
			v := addVolume(t, d, "src-nometa", data)
			ref := d.codec.ref(tsm.ModeFile, "", snapshotKeyFor("snap-nometa"), v.ID, 8192)
			f.fail[d.codec.metaObject(ref)] = 1
			req := &csi.CreateSnapshotRequest{Name: "snap-nometa", SourceVolumeId: v.ID}
			if _, err := d.CreateSnapshot(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			d.jobs.wait(t.Context(), "upload:"+ref.Key)
			if tc.loseData {
				if err := d.tsm.DeleteAll(t.Context(), tsm.ModeFile, ref.Object); err != nil {
					t.Fatal(err)
				}
			}
			// The snapshotter retries after any error; pollUntilReady stops at final ones.
			var snap *csi.Snapshot
			var errs []error
			for range 3 {
				s, e := pollUntilReady(t, d, req)
				errs = append(errs, e...)
				if snap = s; snap != nil {
					break
				}
			}
			if snap == nil || len(errs) != tc.errorsLen || codeOf(errs[0]) != codes.Unavailable {
				t.Fatalf("errors before ready: %v, want %d, the first UNAVAILABLE", errs, tc.errorsLen)
			}
			if n := f.runs[ref.Object]; n != tc.dataRuns {
				t.Errorf("the data was sent %d times, want %d (errors %v)", n, tc.dataRuns, errs)
			}
			if got := f.versions(ref.Object); len(got) == 0 || got[len(got)-1] != digestBytes(data) {
				t.Errorf("TSM holds %v, want the data of the cut", got)
			}
			if m, _ := storedMeta(t, d, f, snap.SnapshotId); m.Digest == nil || m.Digest.Root != digestOfBytes(t, data) {
				t.Errorf("metadata stored by the retry: %+v", m.Digest)
			}
		})
	}
}

func TestRestoreVerifiesTheDigest(t *testing.T) {
	flip := func(off int) func(string, []byte) ([]byte, *tsm.Output) {
		return func(object string, b []byte) ([]byte, *tsm.Output) {
			if strings.HasSuffix(object, ".json") {
				return b, nil
			}
			b = bytes.Clone(b)
			b[off] ^= 0x40
			return b, nil
		}
	}
	for _, tc := range []struct {
		name     string
		shape    func(object string, data []byte) ([]byte, *tsm.Output)
		noVerify bool
		dropMeta bool
		otherID  bool
		cutMeta  bool
		code     codes.Code
		msg      string
	}{
		{name: "intact", code: codes.OK},
		{name: "one bit flipped in chunk 1", shape: flip(catalog.ChunkSize + 99), code: codes.DataLoss, msg: "first chunk 1 (bytes 4194304-8388607)"},
		{name: "flipped in the short last chunk", shape: flip(2*catalog.ChunkSize + 5), code: codes.DataLoss, msg: "first chunk 2"},
		{name: "verification off", shape: flip(7), noVerify: true, code: codes.OK},
		{name: "snapshot from before digests", shape: flip(7), dropMeta: true, code: codes.OK},
		{name: "metadata of another snapshot", otherID: true, code: codes.DataLoss, msg: "describes snapshot"},
		{name: "metadata damaged", cutMeta: true, code: codes.DataLoss, msg: "not a valid snapshot metadata object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTSM()
			d := testDriver(t, "", f)
			d.opts.NoVerify = tc.noVerify
			data := make([]byte, 2*catalog.ChunkSize+4096)
			_, _ = rand.Read(data)
			snap := readySnapshot(t, d, "snap-v", data)
			_, object := storedMeta(t, d, f, snap.SnapshotId)
			if tc.dropMeta {
				if err := d.tsm.DeleteAll(t.Context(), tsm.ModeFile, object); err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				delete(f.data, object)
				f.mu.Unlock()
			}
			if tc.otherID {
				other := readySnapshot(t, d, "snap-other", data)
				_, otherObject := storedMeta(t, d, f, other.SnapshotId)
				f.mu.Lock()
				f.data[object] = f.data[otherObject]
				f.mu.Unlock()
			}
			if tc.cutMeta {
				f.mu.Lock()
				f.data[object] = f.data[object][:100]
				f.mu.Unlock()
			}
			f.restore = tc.shape
			req := restoreRequest("pvc-v", snap.SnapshotId, int64(len(data)))
			vol, err := createUntilDone(t, d, req)
			if codeOf(err) != tc.code || !strings.Contains(errString(err), tc.msg) {
				t.Fatalf("restore answered %v, want %s with %q", err, tc.code, tc.msg)
			}
			result := "ok"
			switch {
			case tc.code != codes.OK:
				result = "mismatch"
			case tc.noVerify || tc.dropMeta:
				result = "unverified"
			}
			if v := metricValue(t, d.metrics, `tsmcsi_restore_verifications_total{result="`+result+`"}`); v != 1 {
				t.Errorf("verifications with result %s: %v, want 1", result, v)
			}
			if tc.code != codes.OK {
				assertNoVolume(t, d, d.loops.(*fakeLoops), volumeIDFor(req.Name))
				return
			}
			got, err := os.ReadFile(d.backingFile(vol.VolumeId))
			if err != nil {
				t.Fatal(err)
			}
			if tc.shape == nil && !bytes.Equal(got, data) {
				t.Error("the verified restore does not hold the snapshot's data")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSnapshotWithoutDigest(t *testing.T) {
	f := newFakeTSM()
	d := testDriver(t, "", f)
	d.opts.NoDigest = true
	snap := readySnapshot(t, d, "snap-nodigest", []byte(strings.Repeat("n", 8192)))
	if m, _ := storedMeta(t, d, f, snap.SnapshotId); m.Digest != nil {
		t.Fatalf("--snapshot-digests=false stored a digest: %+v", m.Digest)
	}
	// Its restore is unverified, not refused.
	f.restore = func(_ string, b []byte) ([]byte, *tsm.Output) { return b, nil }
	if _, err := createUntilDone(t, d, restoreRequest("pvc-nodigest", snap.SnapshotId, 8192)); err != nil {
		t.Fatal(err)
	}
}
