package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckPath(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	links := filepath.Join(root, "links")
	real := filepath.Join(root, "real")
	for _, d := range []string{state, links, real, filepath.Join(state, "records")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(real, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(state, filepath.Join(root, "to-state")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		ok   bool
	}{
		{"existing dir", real, true},
		{"missing below existing", filepath.Join(real, "a", "b"), true},
		{"existing file", file, true},
		{"empty", "", false},
		{"relative", "some/path", false},
		{"unclean", real + "/../real", false},
		{"trailing slash", real + "/", false},
		{"double slash", root + "//real", false},
		{"root", "/", false},
		{"control character", filepath.Join(real, "a\nb"), false},
		{"symlink at the end", filepath.Join(root, "link"), false},
		{"symlink on the way", filepath.Join(root, "link", "x"), false},
		{"symlink on the way, missing below", filepath.Join(root, "link", "x", "y"), false},
		{"symlink into the state dir", filepath.Join(root, "to-state", "x"), false},
		{"below a file", filepath.Join(file, "x"), false},
		{"state dir", state, false},
		{"inside state dir", filepath.Join(state, "records"), false},
		{"missing inside state dir", filepath.Join(state, "new", "x"), false},
		{"inside link dir", filepath.Join(links, "x"), false},
		{"ancestor of state dir", root, false},
		{"sibling with common prefix", state + "-other", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPath(tc.path, state, links)
			if tc.ok && err != nil {
				t.Errorf("CheckPath(%q): %v", tc.path, err)
			}
			if !tc.ok && !errors.Is(err, ErrUnsafePath) {
				t.Errorf("CheckPath(%q): %v, want ErrUnsafePath", tc.path, err)
			}
		})
	}
}

// TestCheckPathBindAlias: a bind mount of the state directory elsewhere is still the state
// directory.
func TestCheckPathBindAlias(t *testing.T) {
	requireRoot(t)
	state := t.TempDir()
	alias := mountDir(t)
	cmd(t, "mount", "--bind", state, alias)
	unmountAll(t, alias)
	if err := CheckPath(filepath.Join(alias, "x"), state); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("CheckPath through a bind of the state dir: %v", err)
	}
}

func TestMakeAndRemoveNoFollow(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	if err := os.Symlink(other, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "a", "b")
	created, err := MakeDirNoFollow(dir)
	if err != nil || !created {
		t.Fatalf("MakeDirNoFollow = %v, %v", created, err)
	}
	if created, err := MakeDirNoFollow(dir); err != nil || created {
		t.Fatalf("second MakeDirNoFollow = %v, %v; want false, nil", created, err)
	}
	file := filepath.Join(root, "c", "f")
	if created, err := MakeFileNoFollow(file); err != nil || !created {
		t.Fatalf("MakeFileNoFollow = %v, %v", created, err)
	}
	if created, err := MakeFileNoFollow(file); err != nil || created {
		t.Fatalf("second MakeFileNoFollow = %v, %v; want false, nil", created, err)
	}
	if _, err := MakeFileNoFollow(dir); err == nil {
		t.Error("MakeFileNoFollow over a directory succeeded")
	}
	if _, err := MakeDirNoFollow(file); err == nil {
		t.Error("MakeDirNoFollow over a file succeeded")
	}
	for _, p := range []string{filepath.Join(root, "link", "x"), filepath.Join(root, "link")} {
		if _, err := MakeDirNoFollow(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("MakeDirNoFollow(%s): %v, want ErrUnsafePath", p, err)
		}
		if _, err := MakeFileNoFollow(p); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("MakeFileNoFollow(%s): %v, want ErrUnsafePath", p, err)
		}
	}
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Fatalf("something was made through the symlink: %v", entries)
	}

	if err := os.WriteFile(filepath.Join(other, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink is not removed, nor what it points to.
	if err := RemoveCreated(filepath.Join(root, "link")); err == nil {
		t.Error("RemoveCreated removed a symlink")
	}
	if err := RemoveCreated(filepath.Join(root, "link", "keep")); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("RemoveCreated through a symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "keep")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "content"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RemoveCreated(dir); err == nil {
		t.Error("RemoveCreated removed a directory that is not empty")
	}
	for _, p := range []string{file, filepath.Join(root, "missing")} {
		if err := RemoveCreated(p); err != nil {
			t.Errorf("RemoveCreated(%s): %v", p, err)
		}
	}
	if _, err := os.Lstat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", file, err)
	}
}

func TestMountOfAndUnmountDevice(t *testing.T) {
	requireRoot(t)
	_, dev, mnt := scratchFS(t, "ext4", 64*mib)
	_, otherDev, otherMnt := scratchFS(t, "ext4", 64*mib)
	rdev, err := DeviceNumber(dev)
	if err != nil {
		t.Fatal(err)
	}
	otherRdev, _ := DeviceNumber(otherDev)
	plain := t.TempDir()
	blockTarget := filepath.Join(t.TempDir(), "block")
	if _, err := MakeFileNoFollow(blockTarget); err != nil {
		t.Fatal(err)
	}
	cmd(t, "mount", "--bind", dev, blockTarget)
	unmountAll(t, blockTarget)
	tmpfs := mountDir(t)
	cmd(t, "mount", "-t", "tmpfs", "tmpfs", tmpfs)
	unmountAll(t, tmpfs)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(mnt, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		mounted bool
		rdev    uint64
	}{
		{mnt, true, rdev},
		{otherMnt, true, otherRdev},
		{blockTarget, true, rdev},
		{tmpfs, true, 0},
		{plain, false, 0},
		{filepath.Join(plain, "missing"), false, 0},
	} {
		mounted, got, err := MountOf(tc.path)
		if err != nil || mounted != tc.mounted || got != tc.rdev {
			t.Errorf("MountOf(%s) = %v, %d, %v; want %v, %d", tc.path, mounted, got, err, tc.mounted, tc.rdev)
		}
	}
	if _, _, err := MountOf(link); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("MountOf(symlink): %v, want ErrUnsafePath", err)
	}
	// Only mounts of the given device come off.
	for _, p := range []string{otherMnt, tmpfs} {
		if n, err := UnmountDevice(p, rdev); err != nil || n != 0 {
			t.Errorf("UnmountDevice(%s) of another device = %d, %v", p, n, err)
		}
		if !inMountInfo(t, p) {
			t.Errorf("%s was unmounted", p)
		}
	}
	if n, err := UnmountDevice(blockTarget, rdev); err != nil || n != 1 {
		t.Errorf("UnmountDevice(block target) = %d, %v", n, err)
	}
	if n, err := UnmountDevice(mnt, rdev); err != nil || n != 1 {
		t.Errorf("UnmountDevice(mnt) = %d, %v", n, err)
	}
	for _, p := range []string{blockTarget, mnt} {
		if inMountInfo(t, p) {
			t.Errorf("%s still mounted", p)
		}
	}
}

// TestCheckPathInsideVolume: a path inside a file system whose loop device is backed by a file
// in a forbidden directory (a volume) is refused; the mount point itself is not.
func TestCheckPathInsideVolume(t *testing.T) {
	requireRoot(t)
	file, _, mnt := scratchFS(t, "ext4", 64*mib)
	state := filepath.Dir(file)
	if err := CheckPath(filepath.Join(mnt, "sub"), state); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("CheckPath inside a volume's file system: %v", err)
	}
	if err := CheckPath(mnt, state); err != nil {
		t.Errorf("CheckPath of the mount point itself: %v", err)
	}
	if err := CheckPath(filepath.Join(mnt, "sub"), t.TempDir()); err != nil {
		t.Errorf("CheckPath inside a file system not backed by a forbidden file: %v", err)
	}
}
