package csi

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// newTestDriver is a driver on an empty state directory. Nothing here reaches the kernel: the
// requests are refused, or answered from records, before a loop device would be touched.
func newTestDriver(t *testing.T, opts Options) *Driver {
	t.Helper()
	opts.DriverName, opts.NodeID, opts.StateDir, opts.VolumePrefix = "test.csi", "node-1", t.TempDir(), DefaultVolumePrefix
	opts.MetaDir = filepath.Join(opts.StateDir, "meta")
	d, err := NewDriver(opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// addVolume records a ready volume with a sparse backing file, as CreateVolume leaves it.
func addVolumeRecord(t *testing.T, d *Driver, v volumeRecord) *volumeRecord {
	t.Helper()
	v.ID, v.Phase = volumeIDFor(v.Name), phaseReady
	if err := os.WriteFile(d.backingFile(v.ID), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.backingFile(v.ID), v.SizeBytes); err != nil {
		t.Fatal(err)
	}
	if err := d.volumes.Put(v.ID, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

const rw = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func TestVolumeSizeLimits(t *testing.T) {
	d := newTestDriver(t, Options{})
	for _, tc := range []struct {
		name     string
		req, lim int64
		want     int64
		code     codes.Code
	}{
		{"aligned up", 5000, 0, 8192, codes.OK},
		{"largest aligned size", math.MaxInt64 - 4095, 0, math.MaxInt64 - 4095, codes.OK},
		{"MaxInt64 wraps when rounded", math.MaxInt64, 0, 0, codes.OutOfRange},
		{"one past the largest aligned size", math.MaxInt64 - 4094, 0, 0, codes.OutOfRange},
		{"limit below the rounded size", 5000, 6000, 0, codes.OutOfRange},
		{"negative", -1, 0, 0, codes.InvalidArgument},
	} {
		got, err := d.volumeSize(&csi.CapacityRange{RequiredBytes: tc.req, LimitBytes: tc.lim}, 0, "")
		if codeOf(err) != tc.code || got != tc.want {
			t.Errorf("%s: volumeSize(%d, %d) = %d, %v; want %d, %v", tc.name, tc.req, tc.lim, got, err, tc.want, tc.code)
		}
	}
}

// Every refusal here comes before the driver would touch a loop device, so a wrong answer
// (an empty volume, an INTERNAL error) shows up as another code.
func TestCreateVolumeRefusals(t *testing.T) {
	d := newTestDriver(t, Options{})
	caps := []*csi.VolumeCapability{capability(rw, true, "")}
	huge := &csi.CapacityRange{RequiredBytes: 1 << 60}
	for _, tc := range []struct {
		name   string
		r      *csi.CapacityRange
		params map[string]string
		src    *csi.VolumeContentSource
		code   codes.Code
	}{
		{"required bytes MaxInt64", &csi.CapacityRange{RequiredBytes: math.MaxInt64}, nil, nil, codes.OutOfRange},
		{"required bytes near MaxInt64", &csi.CapacityRange{RequiredBytes: math.MaxInt64 - 1000}, nil, nil, codes.OutOfRange},
		{"unknown parameter", huge, map[string]string{"replicas": "3"}, nil, codes.InvalidArgument},
		{"parameter of the sidecars passes validation", huge, map[string]string{"csi.storage.k8s.io/pvc/name": "data"}, nil, codes.ResourceExhausted},
		{"empty snapshot id", huge, nil, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{}}}, codes.InvalidArgument},
		{"empty volume id", huge, nil, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{}}}, codes.InvalidArgument},
		{"more than the file system holds", huge, nil, nil, codes.ResourceExhausted},
	} {
		_, err := d.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
			Name: "pvc-" + tc.name, VolumeCapabilities: caps, CapacityRange: tc.r,
			Parameters: tc.params, VolumeContentSource: tc.src,
		})
		if codeOf(err) != tc.code {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.code)
		}
	}
}

func TestControllerExpandVolumeBeyondAnySize(t *testing.T) {
	d := newTestDriver(t, Options{})
	v := addVolumeRecord(t, d, volumeRecord{Name: "grow", SizeBytes: 1 << 20, Access: "block"})
	for _, tc := range []struct {
		req  int64
		code codes.Code
	}{
		{math.MaxInt64, codes.OutOfRange},
		{math.MaxInt64 - 4094, codes.OutOfRange},
		{1 << 60, codes.ResourceExhausted},
		{1 << 20, codes.OK}, // already that large: nothing to do
	} {
		resp, err := d.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
			VolumeId: v.ID, CapacityRange: &csi.CapacityRange{RequiredBytes: tc.req}})
		if codeOf(err) != tc.code {
			t.Errorf("expand to %d: %v (%v); want %v", tc.req, err, resp, tc.code)
		}
		if err == nil && resp.CapacityBytes < tc.req {
			t.Errorf("expand to %d answered OK with %d bytes", tc.req, resp.CapacityBytes)
		}
	}
}

// GetCapacity's maximum_volume_size must be a size CreateVolume accepts as it is.
func TestMaximumVolumeSizeIsAccepted(t *testing.T) {
	for _, limit := range []int64{1<<20 + 1, 1<<20 + 4095, 1 << 20, 12345} {
		d := newTestDriver(t, Options{MaxVolumeSize: limit})
		resp, err := d.GetCapacity(context.Background(), &csi.GetCapacityRequest{})
		if err != nil {
			t.Fatal(err)
		}
		max := resp.GetMaximumVolumeSize().GetValue()
		if max <= 0 || max > limit {
			t.Fatalf("limit %d: maximum_volume_size %d", limit, max)
		}
		if _, err := d.volumeSize(&csi.CapacityRange{RequiredBytes: max}, 0, ""); err != nil {
			t.Errorf("limit %d: maximum_volume_size %d is refused: %v", limit, max, err)
		}
	}
}

// A volume stays what it was created as: a retried CreateVolume that differs is another
// volume under the same name, and ValidateVolumeCapabilities confirms only what it is.
func TestVolumeKeepsItsKind(t *testing.T) {
	d := newTestDriver(t, Options{})
	params := map[string]string{"csi.storage.k8s.io/pvc/name": "data"}
	v := addVolumeRecord(t, d, volumeRecord{Name: "kind", SizeBytes: 1 << 20, Access: "mount", FSType: "ext4", Parameters: params})
	blk := d.addBlock(t)
	for _, tc := range []struct {
		name   string
		caps   []*csi.VolumeCapability
		params map[string]string
		code   codes.Code
	}{
		{"same", []*csi.VolumeCapability{capability(rw, false, "ext4")}, params, codes.OK},
		{"default fs is the recorded one", []*csi.VolumeCapability{capability(rw, false, "")}, params, codes.OK},
		{"block", []*csi.VolumeCapability{capability(rw, true, "")}, params, codes.AlreadyExists},
		{"xfs", []*csi.VolumeCapability{capability(rw, false, "xfs")}, params, codes.AlreadyExists},
		{"other parameters", []*csi.VolumeCapability{capability(rw, false, "ext4")}, map[string]string{"csi.storage.k8s.io/pvc/name": "other"}, codes.AlreadyExists},
		{"no parameters", []*csi.VolumeCapability{capability(rw, false, "ext4")}, nil, codes.AlreadyExists},
	} {
		_, err := d.CreateVolume(context.Background(), &csi.CreateVolumeRequest{
			Name: "kind", VolumeCapabilities: tc.caps, Parameters: tc.params,
			CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 20}})
		if codeOf(err) != tc.code {
			t.Errorf("CreateVolume %s: %v; want %v", tc.name, err, tc.code)
		}
	}
	for _, tc := range []struct {
		name      string
		id        string
		caps      []*csi.VolumeCapability
		params    map[string]string
		confirmed bool
	}{
		{"ext4 on ext4", v.ID, []*csi.VolumeCapability{capability(rw, false, "ext4")}, nil, true},
		{"any fs on ext4", v.ID, []*csi.VolumeCapability{capability(rw, false, "")}, params, true},
		{"xfs on ext4", v.ID, []*csi.VolumeCapability{capability(rw, false, "xfs")}, nil, false},
		{"block on ext4", v.ID, []*csi.VolumeCapability{capability(rw, true, "")}, nil, false},
		{"other parameters", v.ID, []*csi.VolumeCapability{capability(rw, false, "ext4")}, map[string]string{"x": "y"}, false},
		{"block on block", blk.ID, []*csi.VolumeCapability{capability(rw, true, "")}, nil, true},
		{"mount on block", blk.ID, []*csi.VolumeCapability{capability(rw, false, "ext4")}, nil, false},
	} {
		resp, err := d.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
			VolumeId: tc.id, VolumeCapabilities: tc.caps, Parameters: tc.params})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (resp.GetConfirmed() != nil) != tc.confirmed {
			t.Errorf("%s: confirmed %v, message %q; want confirmed %v", tc.name, resp.GetConfirmed() != nil, resp.GetMessage(), tc.confirmed)
		}
		if !tc.confirmed && resp.GetMessage() == "" {
			t.Errorf("%s: not confirmed without a message", tc.name)
		}
	}
}

func (d *Driver) addBlock(t *testing.T) *volumeRecord {
	return addVolumeRecord(t, d, volumeRecord{Name: "raw", SizeBytes: 1 << 20, Access: "block"})
}
