package csi

import (
	"path"
	"strings"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

func testCodec(t *testing.T) handleCodec {
	t.Helper()
	c, err := newHandleCodec("backup", "/dev", "/var/lib/tsm-csi/tsm", "/var/lib/tsm-csi/meta")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandleRoundTrip(t *testing.T) {
	c := testCodec(t)
	for _, tc := range []struct {
		mode  tsm.Mode
		owner string
		size  int64
	}{
		{tsm.ModeImage, "", 1 << 30},
		{tsm.ModeImage, "K8S-CLUSTER-PROD", 64 << 20},
		{tsm.ModeFile, "k8s.cluster_1", 4096},
		{tsm.ModeFile, strings.Repeat("N", 30), 1<<50 + 7},
	} {
		r := c.ref(tc.mode, tc.owner, snapshotKeyFor("snap-name"), volumeIDFor("pvc-1"), tc.size)
		id, err := c.encode(r)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if len(id) > 128 {
			t.Fatalf("id %q longer than 128 bytes", id)
		}
		got, err := c.decode(id)
		if err != nil {
			t.Fatalf("decode %q: %v", id, err)
		}
		if got != r {
			t.Fatalf("decode %q = %+v, want %+v", id, got, r)
		}
	}
}

func TestHandleExample(t *testing.T) {
	c := testCodec(t)
	id, err := c.encode(c.ref(tsm.ModeImage, "K8S-PROD", snapshotKeyFor("snapshot-6c1f"), volumeIDFor("pvc-9a"), 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	want := "tsm1:i:K8S-PROD:/dev/backup-" + snapshotKeyFor("snapshot-6c1f")[1:] + "-" + volumeIDFor("pvc-9a")[4:] + "-40000000"
	if id != want {
		t.Fatalf("unexpected layout %q", id)
	}
}

func TestHandleRejects(t *testing.T) {
	c := testCodec(t)
	good := "0123456789abcdef-0123456789abcdef0123-400"
	for _, id := range []string{
		"",
		"reallyfakesnapshotid",
		"non-existing-snapshot-id",
		"tsm2:i::/dev/backup-" + good,
		"tsm1:x::/dev/backup-" + good,
		"tsm1:i::/etc/backup-" + good,
		"tsm1:i::/dev/../etc/backup-" + good,
		"tsm1:i::/dev/sub/backup-" + good,
		"tsm1:i::/dev/other-" + good,
		"tsm1:i::/dev/backup-" + good + "/x",
		"tsm1:i::/dev/backup-" + strings.Replace(good, "-400", "-0400", 1),
		"tsm1:i::/dev/backup-" + strings.Replace(good, "-400", "-0", 1),
		"tsm1:i::/dev/backup-" + strings.Replace(good, "01", "O1", 1),
		"tsm1:i::/dev/backup-s" + good,
		"tsm1:f::relative/backup-" + good,
		"tsm1:f::/a/../backup-" + good,
		"tsm1:f::/a b/backup-" + good,
		"tsm1:i:bad owner:/dev/backup-" + good,
		"tsm1:i:a:b:/dev/backup-" + good,
		"tsm1:i::/dev/backup-" + good + strings.Repeat("0", 80),
		"tsm1:i::dev/backup-" + good,
		// File-mode objects outside this driver's file directory, wildcards included.
		"tsm1:f::/var/lib/*/tsm/backup-" + good,
		"tsm1:f::/var/lib/other state/tsm/backup-" + good,
		"tsm1:f::/var/lib/tsm-csi/volumes/backup-" + good,
		"tsm1:f::/var/lib/tsm-csi/ts?/backup-" + good,
		"tsm1:f::/etc/backup-" + good,
	} {
		if r, err := c.decode(id); err == nil {
			t.Errorf("decode(%q) accepted: %+v", id, r)
		}
	}
	for _, id := range []string{"tsm1:i::/dev/backup-" + good, "tsm1:f:N:/var/lib/tsm-csi/tsm/backup-" + good, "tsm1:f:N:/var/lib/other-state/tsm/backup-" + good} {
		if _, err := c.decode(id); err != nil {
			t.Fatalf("control id %q rejected: %v", id, err)
		}
	}
}

func TestHandleTooLong(t *testing.T) {
	c, err := newHandleCodec("backup", "/dev", "/"+strings.Repeat("d", 60), "/var/lib/tsm-csi/meta")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.encode(c.ref(tsm.ModeFile, strings.Repeat("N", 60), "s0123456789abcdef", "vol-0123456789abcdef0123", 1)); err == nil {
		t.Fatal("over-long id accepted")
	}
}

func TestCodecConfig(t *testing.T) {
	const meta = "/var/lib/tsm-csi/meta"
	for _, tc := range []struct{ prefix, img, file, meta string }{
		{"Backup", "/dev", "/x", meta},
		{"", "/dev", "/x", meta},
		{"a/b", "/dev", "/x", meta},
		{"backup", "dev", "/x", meta},
		{"backup", "/dev/", "/x", meta},
		{"backup", "/dev", "/x:y", meta},
		{"backup", "/dev", "/x", "meta"},
		{"backup", "/dev", "/x", "/var/lib/*/meta"},
		{"backup", "/dev", "/x", "/x"},
		{"backup", "/dev", "/x", "/dev"},
		{"backup", "/dev", "/x", "/var/meta/"},
	} {
		if _, err := newHandleCodec(tc.prefix, tc.img, tc.file, tc.meta); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
	c, err := newHandleCodec("backup", "/dev", "/x/tsm", meta)
	if err != nil {
		t.Fatal(err)
	}
	for mode, letter := range map[tsm.Mode]string{tsm.ModeImage: "i", tsm.ModeFile: "f"} {
		r := c.ref(mode, "", "s0123456789abcdef", "vol-0123456789abcdef0123", 1<<30)
		want := meta + "/backup-0123456789abcdef-0123456789abcdef0123-40000000." + letter + ".json"
		if got := c.metaObject(r); got != want {
			t.Errorf("%s: meta object %s, want %s", mode, got, want)
		}
		if key, ok := c.metaKeyOf(path.Base(want)); !ok || key+".json" != path.Base(want) {
			t.Errorf("%s: metaKeyOf(%s) = %q, %v", mode, path.Base(want), key, ok)
		}
	}
	for _, name := range []string{
		"backup-0123456789abcdef-0123456789abcdef0123-40000000.json",     // no mode
		"backup-0123456789abcdef-0123456789abcdef0123-40000000.x.json",   // unknown mode
		"backup-x-0123456789abcdef-0123456789abcdef0123-40000000.i.json", // a longer prefix
		"backup-0123456789abcdef-0123456789abcdef0123-40000000.i",        // not JSON
		"other-0123456789abcdef-0123456789abcdef0123-40000000.i.json",
	} {
		if key, ok := c.metaKeyOf(name); ok {
			t.Errorf("metaKeyOf(%s) accepted it as %q", name, key)
		}
	}
}

func FuzzHandleDecode(f *testing.F) {
	c, _ := newHandleCodec("backup", "/dev", "/var/lib/tsm-csi/tsm", "/var/lib/tsm-csi/meta")
	f.Add("tsm1:i::/dev/backup-0123456789abcdef-0123456789abcdef0123-400")
	f.Add("tsm1:f:NODE:/var/lib/tsm-csi/tsm/backup-0123456789abcdef-0123456789abcdef0123-1")
	f.Add("tsm1:i::/dev/../backup")
	f.Fuzz(func(t *testing.T, id string) {
		r, err := c.decode(id)
		if err != nil {
			return
		}
		again, err := c.encode(r)
		if err != nil || again != id {
			t.Fatalf("decode(%q) = %+v, re-encodes to %q (%v)", id, r, again, err)
		}
		// What ListSnapshots uses for the objects it lists: the same id without decoding it again.
		if checked, err := c.encodeChecked(r); err != nil || checked != id {
			t.Fatalf("encodeChecked(%+v) = %q (%v), want %q", r, checked, err, id)
		}
	})
}
