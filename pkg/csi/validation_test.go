package csi

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestCheckVolumeID(t *testing.T) {
	for _, tc := range []struct {
		id    string
		known bool
		code  codes.Code
	}{
		{volumeIDFor("pvc-1"), true, codes.OK},
		{"fake-vol-id-123", false, codes.OK},
		{"vol-0123", false, codes.OK},
		{"", false, codes.InvalidArgument},
		{"../../etc/passwd", false, codes.InvalidArgument},
		{"vol-x/..", false, codes.InvalidArgument},
		{"a\\b", false, codes.InvalidArgument},
		{"a\x00b", false, codes.InvalidArgument},
		{"..", false, codes.InvalidArgument},
		{strings.Repeat("v", 129), false, codes.InvalidArgument},
	} {
		known, err := checkVolumeID(tc.id)
		if codeOf(err) != tc.code || known != tc.known {
			t.Errorf("checkVolumeID(%q) = %v, %v; want %v, %v", tc.id, known, codeOf(err), tc.known, tc.code)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"pvc-1", true},
		{strings.Repeat("n", 128), true},
		{"ünïcode name", true},
		{"", false},
		{strings.Repeat("n", 129), false},
		{"tab\there", false},
		{"c1\u0085", false},
	} {
		if err := checkName("name", tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v", tc.name, err)
		}
	}
}

func capability(mode csi.VolumeCapability_AccessMode_Mode, block bool, fs string) *csi.VolumeCapability {
	c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
	if block {
		c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fs}}
	}
	return c
}

func TestCheckCapabilities(t *testing.T) {
	const rw = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	for _, tc := range []struct {
		name string
		caps []*csi.VolumeCapability
		kind string
	}{
		{"block", []*csi.VolumeCapability{capability(rw, true, "")}, "block"},
		{"ext4", []*csi.VolumeCapability{capability(rw, false, "ext4")}, "mount"},
		{"xfs", []*csi.VolumeCapability{capability(rw, false, "xfs")}, "mount"},
		{"default fs", []*csi.VolumeCapability{capability(rw, false, "")}, "mount"},
		{"btrfs", []*csi.VolumeCapability{capability(rw, false, "btrfs")}, ""},
		{"multi node", []*csi.VolumeCapability{capability(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, false, "")}, ""},
		{"unknown mode", []*csi.VolumeCapability{capability(csi.VolumeCapability_AccessMode_UNKNOWN, false, "")}, ""},
		{"mixed", []*csi.VolumeCapability{capability(rw, true, ""), capability(rw, false, "")}, ""},
		{"none", nil, ""},
		{"no access type", []*csi.VolumeCapability{{AccessMode: &csi.VolumeCapability_AccessMode{Mode: rw}}}, ""},
		{"no access mode", []*csi.VolumeCapability{{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}}}, ""},
	} {
		kind, err := checkCapabilities(tc.caps)
		if kind != tc.kind || (tc.kind == "") != (err != nil) {
			t.Errorf("%s: got %q, %v", tc.name, kind, err)
		}
		if err != nil && codeOf(err) != codes.InvalidArgument {
			t.Errorf("%s: code %v", tc.name, codeOf(err))
		}
	}
}

func TestVolumeSize(t *testing.T) {
	d := &Driver{opts: Options{DefaultVolumeSize: 1 << 30, MaxVolumeSize: 100 << 30}}
	rng := func(req, lim int64) *csi.CapacityRange {
		return &csi.CapacityRange{RequiredBytes: req, LimitBytes: lim}
	}
	for _, tc := range []struct {
		name string
		r    *csi.CapacityRange
		min  int64
		fs   string
		want int64
		code codes.Code
	}{
		{"default", nil, 0, "", 1 << 30, codes.OK},
		{"default capped by limit", rng(0, 512<<20), 0, "", 512 << 20, codes.OK},
		{"exact", rng(10<<30, 10<<30), 0, "", 10 << 30, codes.OK},
		{"aligned up", rng(1000, 0), 0, "", 4096, codes.OK},
		{"no aligned size in range", rng(1000, 2000), 0, "", 0, codes.OutOfRange},
		{"xfs minimum", rng(1<<20, 0), 0, "xfs", minXFSBytes, codes.OK},
		{"xfs minimum over limit", rng(1<<20, 100<<20), 0, "xfs", 0, codes.OutOfRange},
		{"source size", rng(0, 0), 3 << 30, "", 3 << 30, codes.OK},
		{"larger than source", rng(5<<30, 0), 3 << 30, "", 5 << 30, codes.OK},
		{"smaller than source", rng(1<<30, 0), 3 << 30, "", 0, codes.OutOfRange},
		{"limit below source", rng(0, 1<<30), 3 << 30, "", 0, codes.OutOfRange},
		{"over maximum", rng(200<<30, 0), 0, "", 0, codes.OutOfRange},
		{"negative", rng(-1, 0), 0, "", 0, codes.InvalidArgument},
		{"required over limit", rng(2<<30, 1<<30), 0, "", 0, codes.InvalidArgument},
	} {
		got, err := d.volumeSize(tc.r, tc.min, tc.fs)
		if codeOf(err) != tc.code || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d, %v", tc.name, got, err, tc.want, tc.code)
		}
	}
}

func TestSnapshotMode(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{nil, "image"},
		{map[string]string{"mode": "file"}, "file"},
		{map[string]string{"mode": "image", "csi.storage.k8s.io/volumesnapshot/name": "x"}, "image"},
		{map[string]string{"mode": "tape"}, ""},
		{map[string]string{"retention": "5"}, ""},
	} {
		got, err := snapshotMode(tc.params, "image")
		if string(got) != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("%v: got %q, %v", tc.params, got, err)
		}
	}
}

func TestInFlight(t *testing.T) {
	f := newInFlight()
	rel, ok := f.acquire("a", "b")
	if !ok {
		t.Fatal("first acquire failed")
	}
	if _, ok := f.acquire("b", "c"); ok {
		t.Fatal("overlapping acquire succeeded")
	}
	relC, ok := f.acquire("c")
	if !ok {
		t.Fatal("a partial failure must not hold keys")
	}
	rel()
	relC()
	if r, ok := f.acquire("a", "b", "c"); !ok {
		t.Fatal("keys not released")
	} else {
		r()
	}
}
