package mount

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fsCase is a filesystem type with a device size it can be made on.
type fsCase struct {
	name, fsType, want string
	size               int64
}

var fsCases = []fsCase{
	{"default is ext4", "", "ext4", 64 * mib},
	{"ext4", "ext4", "ext4", 64 * mib},
	{"xfs", "xfs", "xfs", xfsMinSize},
}

// formatAndMount formats and mounts dev with m and registers the unmount.
func formatAndMount(tb testing.TB, m *Mounter, dev, fsType string) string {
	tb.Helper()
	mnt := mountDir(tb)
	unmountAll(tb, mnt)
	if err := m.FormatAndMount(dev, mnt, fsType, nil); err != nil {
		tb.Fatal(err)
	}
	return mnt
}

func TestFormatAndMount(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	for _, tc := range fsCases {
		t.Run(tc.name, func(t *testing.T) {
			_, dev := scratchLoop(t, tc.size)
			if got, err := m.DeviceFormat(dev); err != nil || got != "" {
				t.Fatalf("DeviceFormat(new device) = %q, %v", got, err)
			}
			mnt := formatAndMount(t, m, dev, tc.fsType)
			if got, err := m.DeviceFormat(dev); err != nil || got != tc.want {
				t.Errorf("DeviceFormat = %q, %v; want %q", got, err, tc.want)
			}
			if ok, err := m.IsMountPoint(mnt); err != nil || !ok {
				t.Errorf("IsMountPoint = %v, %v", ok, err)
			}
			if got, err := m.MountedDevice(mnt); err != nil || got != dev {
				t.Errorf("MountedDevice = %q, %v; want %q", got, err, dev)
			}
			if tc.want == "xfs" && !slices.Contains(mountOptions(t, mnt), "nouuid") {
				t.Errorf("xfs mounted without nouuid: %v", mountOptions(t, mnt))
			}

			// Mounting again on the same target is a no-op, not a second mount.
			if err := m.FormatAndMount(dev, mnt, tc.fsType, nil); err != nil {
				t.Errorf("repeated FormatAndMount: %v", err)
			}
			if n := mountCount(t, mnt); n != 1 {
				t.Errorf("%d mounts on %s, want 1", n, mnt)
			}

			// The filesystem survives unmount and a second FormatAndMount.
			data := filepath.Join(mnt, "data")
			if err := os.WriteFile(data, []byte("persist"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(mnt); err != nil {
				t.Fatal(err)
			}
			if ok, err := m.IsMountPoint(mnt); err != nil || ok {
				t.Fatalf("IsMountPoint after Unmount = %v, %v", ok, err)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("file visible while unmounted")
			}
			if err := m.FormatAndMount(dev, mnt, tc.fsType, nil); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(data); err != nil || string(b) != "persist" {
				t.Errorf("after remount: %q, %v; the device was reformatted", b, err)
			}
		})
	}
}

// mountOptions returns the per-mount and superblock options at target.
func mountOptions(tb testing.TB, target string) []string {
	tb.Helper()
	info, _, err := topMount(target)
	if err != nil || info == nil {
		tb.Fatalf("no mount at %s: %v", target, err)
	}
	return append(slices.Clone(info.MountOptions), info.SuperOptions...)
}

func TestFormatAndMountRefuses(t *testing.T) {
	requireRoot(t)
	m := NewMounter()

	t.Run("unsupported type", func(t *testing.T) {
		_, dev := scratchLoop(t, 64*mib)
		if err := m.FormatAndMount(dev, mountDir(t), "btrfs", nil); !errors.Is(err, ErrUnsupportedFS) {
			t.Errorf("FormatAndMount(btrfs): %v, want ErrUnsupportedFS", err)
		}
		if got, _ := m.DeviceFormat(dev); got != "" {
			t.Errorf("device formatted as %q", got)
		}
	})

	t.Run("missing target", func(t *testing.T) {
		_, dev := scratchLoop(t, 64*mib)
		if err := m.FormatAndMount(dev, filepath.Join(t.TempDir(), "missing"), "ext4", nil); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("FormatAndMount on missing target: %v, want os.ErrNotExist", err)
		}
		if got, _ := m.DeviceFormat(dev); got != "" {
			t.Errorf("device formatted as %q although nothing could be mounted", got)
		}
	})

	t.Run("other device already mounted", func(t *testing.T) {
		_, devA := scratchLoop(t, 64*mib)
		_, devB := scratchLoop(t, 64*mib)
		mnt := formatAndMount(t, m, devA, "ext4")
		if err := m.FormatAndMount(devB, mnt, "ext4", nil); !errors.Is(err, ErrMountConflict) {
			t.Errorf("FormatAndMount over another device: %v, want ErrMountConflict", err)
		}
		if got, _ := m.DeviceFormat(devB); got != "" {
			t.Errorf("second device formatted as %q", got)
		}
	})

	t.Run("existing filesystem of another type", func(t *testing.T) {
		file := sparseFile(t, xfsMinSize)
		cmd(t, "mkfs.xfs", "-q", file)
		dev := attachLoop(t, file)
		mnt := mountDir(t)
		unmountAll(t, mnt)
		if err := m.FormatAndMount(dev, mnt, "ext4", nil); err == nil {
			t.Error("mounted xfs as ext4")
		}
		if got, _ := m.DeviceFormat(dev); got != "xfs" {
			t.Errorf("device now holds %q; an existing filesystem was overwritten", got)
		}
	})
}

func TestBindMountDirectory(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	for _, readOnly := range []bool{false, true} {
		name := map[bool]string{false: "read-write", true: "read-only"}[readOnly]
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			target := mountDir(t)
			unmountAll(t, target)
			if err := m.BindMount(src, target, readOnly, nil); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(b) != "x" {
				t.Fatalf("source not visible: %q, %v", b, err)
			}
			werr := os.WriteFile(filepath.Join(target, "g"), nil, 0o600)
			if readOnly && !errors.Is(werr, unix.EROFS) {
				t.Errorf("write to read-only bind: %v, want EROFS", werr)
			}
			if !readOnly && werr != nil {
				t.Errorf("write to read-write bind: %v", werr)
			}
			// A read-only bind must not make the source read-only.
			if err := os.WriteFile(filepath.Join(src, "h"), nil, 0o600); err != nil {
				t.Errorf("source became read-only: %v", err)
			}

			if err := m.BindMount(src, target, readOnly, nil); err != nil {
				t.Errorf("repeated BindMount: %v", err)
			}
			if n := mountCount(t, target); n != 1 {
				t.Errorf("%d mounts on target, want 1", n)
			}
			if err := m.BindMount(src, target, !readOnly, nil); !errors.Is(err, ErrMountConflict) {
				t.Errorf("BindMount with other read-only state: %v, want ErrMountConflict", err)
			}
			if err := m.BindMount(t.TempDir(), target, readOnly, nil); !errors.Is(err, ErrMountConflict) {
				t.Errorf("BindMount of other source: %v, want ErrMountConflict", err)
			}
			if err := m.Unmount(target); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(target, "f")); !errors.Is(err, os.ErrNotExist) {
				t.Error("source still visible after Unmount")
			}
		})
	}
}

func TestBindMountBlockDevice(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	file, dev := scratchLoop(t, 8*mib)
	target := filepath.Join(t.TempDir(), "publish", "vol")
	if err := MakeFile(target); err != nil {
		t.Fatal(err)
	}
	unmountAll(t, target)
	if err := m.BindMount(dev, target, false, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsBlockDevice(target); err != nil || !ok {
		t.Fatalf("IsBlockDevice(target) = %v, %v", ok, err)
	}
	assertSameFile(t, target, dev)
	if got, err := m.MountedDevice(target); err != nil || got != dev {
		t.Errorf("MountedDevice = %q, %v; want %q", got, err, dev)
	}
	if ok, err := m.IsMountPoint(target); err != nil || !ok {
		t.Errorf("IsMountPoint = %v, %v", ok, err)
	}
	// MakeFile must leave the published device node alone.
	if err := MakeFile(target); err != nil {
		t.Errorf("MakeFile on published target: %v", err)
	}
	// Data written through the target lands in the backing file.
	payload := randomBytes(t, 4096)
	f, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(payload, 4096); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		t.Fatal(err)
	}
	backing, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(backing[4096:8192]) != string(payload) {
		t.Error("data written through the target is not in the backing file")
	}

	if err := m.Unmount(target); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsBlockDevice(target); err != nil || ok {
		t.Errorf("target after Unmount: block device %v, %v", ok, err)
	}
}

func TestUnmount(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	target := mountDir(t)
	unmountAll(t, target)
	for range 3 {
		cmd(t, "mount", "--bind", t.TempDir(), target)
	}
	if n := mountCount(t, target); n != 3 {
		t.Fatalf("set up %d stacked mounts, want 3", n)
	}
	if err := m.Unmount(target); err != nil {
		t.Fatal(err)
	}
	if n := mountCount(t, target); n != 0 {
		t.Errorf("%d mounts left on %s", n, target)
	}
	tests := []struct{ name, path string }{
		{"not mounted", target},
		{"missing", filepath.Join(t.TempDir(), "missing")},
	}
	for _, tc := range tests {
		if err := m.Unmount(tc.path); err != nil {
			t.Errorf("Unmount(%s): %v", tc.name, err)
		}
	}
}

func TestIsMountPointAndMountedDevice(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	_, dev, mnt := scratchFS(t, "ext4", 64*mib)
	sub := filepath.Join(mnt, "sub")
	if err := os.Mkdir(sub, 0o750); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(mnt, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		mounted bool
		device  string
	}{
		{"mount point", mnt, true, dev},
		{"symlink to mount point", link, true, dev},
		{"directory inside a mount", sub, false, ""},
		{"plain directory", t.TempDir(), false, ""},
		{"regular file", file, false, ""},
		{"missing", filepath.Join(t.TempDir(), "missing"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := m.IsMountPoint(tc.path)
			if err != nil || ok != tc.mounted {
				t.Errorf("IsMountPoint = %v, %v; want %v", ok, err, tc.mounted)
			}
			got, err := m.MountedDevice(tc.path)
			if err != nil || got != tc.device {
				t.Errorf("MountedDevice = %q, %v; want %q", got, err, tc.device)
			}
		})
	}
}

// MountedDevice names the device, not the link it was mounted through.
func TestMountedDeviceThroughLink(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	file := sparseFile(t, 64*mib)
	cmd(t, "mkfs.ext4", "-q", file)
	dev := attachLoop(t, file)
	name := randomName(t)
	link, err := CreateLink("/dev", name, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = RemoveLink("/dev", name) })
	mnt := mountDir(t)
	unmountAll(t, mnt)
	if err := m.FormatAndMount(link, mnt, "ext4", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := m.MountedDevice(mnt); err != nil || got != dev {
		t.Errorf("MountedDevice = %q, %v; want %q", got, err, dev)
	}
	// Idempotency compares devices, not names.
	if err := m.FormatAndMount(dev, mnt, "ext4", nil); err != nil {
		t.Errorf("FormatAndMount via the device name: %v", err)
	}
}

func TestUnescapeMountInfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/plain/path`, "/plain/path"},
		{`/with\040space`, "/with space"},
		{`/tab\011and\012newline`, "/tab\tand\nnewline"},
		{`/back\134slash`, `/back\slash`},
		{`/trailing\04`, `/trailing\04`},
		{`/not\999octal`, `/not\999octal`},
	}
	for _, tc := range tests {
		if got := unescapeMountInfo(tc.in); got != tc.want {
			t.Errorf("unescapeMountInfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMountPathWithSpace(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	_, dev := scratchLoop(t, 64*mib)
	mnt := filepath.Join(t.TempDir(), "with space")
	if err := MakeDir(mnt); err != nil {
		t.Fatal(err)
	}
	unmountAll(t, mnt)
	if err := m.FormatAndMount(dev, mnt, "ext4", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := m.MountedDevice(mnt); err != nil || got != dev {
		t.Errorf("MountedDevice = %q, %v; want %q", got, err, dev)
	}
	if err := m.Unmount(mnt); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readMounts(t), strings.ReplaceAll(mnt, " ", `\040`)) {
		t.Error("still mounted")
	}
}

func readMounts(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
