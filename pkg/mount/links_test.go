package mount

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLinkName(t *testing.T) {
	tests := []struct {
		name       string
		prefix, id string
		want       string // "" means rejected
	}{
		{"plain", "vol", "pvc-1234", "vol-pvc-1234"},
		{"dots inside", "snap", "a.b.c", "snap-a.b.c"},
		{"single chars", "v", "0", "v-0"},
		{"64 byte id", "v", strings.Repeat("a", 64), "v-" + strings.Repeat("a", 64)},
		{"empty id", "vol", "", ""},
		{"empty prefix", "", "x", ""},
		{"slash", "vol", "a/b", ""},
		{"parent", "vol", "..", ""},
		{"parent path", "vol", "../../etc/passwd", ""},
		{"double dot inside", "vol", "a..b", ""},
		{"leading dot", "vol", ".hidden", ""},
		{"trailing dot", "vol", "x.", ""},
		{"leading dash", "vol", "-x", ""},
		{"trailing dash", "vol", "x-", ""},
		{"upper case", "vol", "PVC", ""},
		{"NUL", "vol", "a\x00b", ""},
		{"space", "vol", "a b", ""},
		{"newline", "vol", "a\n", ""},
		{"unicode", "vol", "ä", ""},
		{"65 byte id", "v", strings.Repeat("a", 65), ""},
		{"over 100 bytes", strings.Repeat("p", 40), strings.Repeat("i", 60), ""},
		{"bad prefix", "Vol", "x", ""},
		{"prefix with slash", "a/b", "x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LinkName(tc.prefix, tc.id)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Errorf("LinkName(%q, %q) = %q, %v; want ErrInvalidName", tc.prefix, tc.id, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("LinkName(%q, %q) = %q, %v; want %q", tc.prefix, tc.id, got, err, tc.want)
			}
		})
	}
}

func TestCreateLinkRegularFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "volume.img")
	if err := os.WriteFile(target, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	name, err := LinkName("vol", "one")
	if err != nil {
		t.Fatal(err)
	}
	p, err := CreateLink(dir, name, target)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, name) {
		t.Errorf("CreateLink returned %q, want %q", p, filepath.Join(dir, name))
	}
	assertSameFile(t, p, target)
	if dev, err := LinkTarget(p); err != nil || dev != "" {
		t.Errorf("LinkTarget(regular file) = %q, %v; want \"\"", dev, err)
	}

	// Idempotent, also through a symlink to the target.
	if again, err := CreateLink(dir, name, target); err != nil || again != p {
		t.Errorf("second CreateLink = %q, %v", again, err)
	}
	sym := filepath.Join(t.TempDir(), "sym")
	if err := os.Symlink(target, sym); err != nil {
		t.Fatal(err)
	}
	if again, err := CreateLink(dir, name, sym); err != nil || again != p {
		t.Errorf("CreateLink via symlink = %q, %v", again, err)
	}

	// The name is taken by a different file.
	other := filepath.Join(t.TempDir(), "other.img")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateLink(dir, name, other); !errors.Is(err, ErrLinkConflict) {
		t.Errorf("CreateLink onto another file: %v, want ErrLinkConflict", err)
	}
	assertSameFile(t, p, target)

	if err := RemoveLink(dir, name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link still there: %v", err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "data" {
		t.Errorf("target damaged: %q, %v", b, err)
	}
	if err := RemoveLink(dir, name); err != nil {
		t.Errorf("second RemoveLink: %v", err)
	}
	if err := RemoveLink(filepath.Join(dir, "missing-dir"), name); err != nil {
		t.Errorf("RemoveLink in missing dir: %v", err)
	}
}

func assertSameFile(tb testing.TB, a, b string) {
	tb.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		tb.Fatal(err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		tb.Fatal(err)
	}
	if !os.SameFile(sa, sb) {
		tb.Errorf("%s and %s are different files", a, b)
	}
}

func TestCreateLinkRejectsEscapes(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "links")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(parent, "target")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ label, name string }{
		{"empty", ""},
		{"dot", "."},
		{"dot dot", ".."},
		{"parent path", "../escape"},
		{"separator", "a/b"},
		{"absolute", "/abs"},
		{"NUL", "a\x00b"},
		{"longer than NAME_MAX", strings.Repeat("x", 256)},
	}
	for _, tc := range tests {
		name := tc.name
		t.Run(tc.label, func(t *testing.T) {
			if _, err := CreateLink(dir, name, target); !errors.Is(err, ErrInvalidName) {
				t.Errorf("CreateLink(%q): %v, want ErrInvalidName", name, err)
			}
			if err := RemoveLink(dir, name); !errors.Is(err, ErrInvalidName) {
				t.Errorf("RemoveLink(%q): %v, want ErrInvalidName", name, err)
			}
		})
	}
	assertDirNames(t, parent, "links", "target")
	assertDirNames(t, dir)
}

func assertDirNames(tb testing.TB, dir string, want ...string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		tb.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func TestCreateLinkFailures(t *testing.T) {
	dir := t.TempDir()
	subdir := filepath.Join(dir, "sub")
	if err := os.Mkdir(subdir, 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dir    string
		target string
	}{
		{"missing target", dir, filepath.Join(dir, "missing")},
		{"directory target", dir, subdir},
		{"missing dir", filepath.Join(dir, "nope"), "/dev/null"},
		{"across filesystems", dir, "/dev/null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := CreateLink(tc.dir, "l", tc.target); err == nil {
				t.Errorf("CreateLink = %q, want an error", p)
			}
			if _, err := os.Lstat(filepath.Join(tc.dir, "l")); !errors.Is(err, os.ErrNotExist) {
				t.Error("failed CreateLink left a link")
			}
		})
	}
}

func TestRemoveLinkKeepsDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "vol-x"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := RemoveLink(dir, "vol-x"); err == nil {
		t.Error("RemoveLink removed a directory")
	}
	assertDirNames(t, dir, "vol-x")
}

func TestListLinks(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"vol-b", "vol-a", "snap-a", "volume", "vol", "other-vol-c"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "vol-dir"), 0o750); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, prefix string
		want        []string
	}{
		{dir, "vol", []string{"vol-a", "vol-b"}},
		{dir, "snap", []string{"snap-a"}},
		{dir, "none", nil},
		{filepath.Join(dir, "missing"), "vol", nil},
	}
	for _, tc := range tests {
		got, err := ListLinks(tc.dir, tc.prefix)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ListLinks(%s, %q) = %v, %v; want %v", tc.dir, tc.prefix, got, err, tc.want)
		}
	}
}

func TestLinkToLoopDeviceInDev(t *testing.T) {
	requireRoot(t)
	file, dev := scratchLoop(t, 8*mib)
	name := randomName(t)
	p, err := CreateLink("/dev", name, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveLink("/dev", name); err != nil {
			t.Error(err)
		}
	})
	if p != "/dev/"+name {
		t.Errorf("CreateLink returned %q", p)
	}
	if got, err := LinkTarget(p); err != nil || got != dev {
		t.Errorf("LinkTarget(%s) = %q, %v; want %q", p, got, err, dev)
	}
	if again, err := CreateLink("/dev", name, dev); err != nil || again != p {
		t.Errorf("second CreateLink = %q, %v", again, err)
	}
	// The link is a full stand-in for the device node.
	if b, err := BackingFile(p); err != nil || b != file {
		t.Errorf("BackingFile(link) = %q, %v; want %q", b, err, file)
	}
	assertDeviceSize(t, p, 8*mib)
	if got, err := FindLoop(file); err != nil || got != dev {
		t.Errorf("FindLoop = %q, %v", got, err)
	}
	names, err := ListLinks("/dev", strings.TrimSuffix(devLinkPrefix(), "-"))
	if err != nil || !slices.Contains(names, name) {
		t.Errorf("ListLinks(/dev) = %v, %v; want it to contain %s", names, err, name)
	}
}

func TestLinkTargetOthers(t *testing.T) {
	if _, err := LinkTarget(t.TempDir()); err == nil {
		t.Error("LinkTarget(directory) succeeded")
	}
	if _, err := LinkTarget("/dev/null"); err == nil {
		t.Error("LinkTarget(character device) succeeded")
	}
	if _, err := LinkTarget(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LinkTarget(missing): %v", err)
	}
}

// FuzzLinkName checks the path-safety promise for arbitrary input: whatever
// LinkName accepts is a single entry that stays inside any directory.
func FuzzLinkName(f *testing.F) {
	for _, seed := range [][2]string{
		{"vol", "pvc-1"}, {"snap", "a.b"}, {"vol", "../x"}, {"vol", "a/b"}, {"vol", ".."},
		{"vol", "a..b"}, {"", ""}, {"vol", "x\x00"}, {"v", strings.Repeat("a", 64)},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, prefix, id string) {
		name, err := LinkName(prefix, id)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
			return
		}
		if name != prefix+"-"+id {
			t.Fatalf("LinkName(%q, %q) = %q", prefix, id, name)
		}
		if len(name) > maxLinkName || strings.ContainsAny(name, "/\x00") ||
			strings.Contains(name, "..") || strings.HasPrefix(name, ".") {
			t.Fatalf("unsafe name %q accepted", name)
		}
		const dir = "/var/lib/links"
		if p := filepath.Join(dir, name); filepath.Dir(p) != dir || filepath.Base(p) != name {
			t.Fatalf("%q escapes %s as %s", name, dir, p)
		}
		if err := validLinkEntry(name); err != nil {
			t.Fatalf("accepted name %q is not a valid entry: %v", name, err)
		}
	})
}
