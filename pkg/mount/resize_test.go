package mount

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestResizeFS(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	tests := []struct {
		fsType    string
		from, to  int64
		minGrowth int64
	}{
		{"ext4", 64 * mib, 256 * mib, 150 * mib},
		{"xfs", xfsMinSize, 2 * xfsMinSize, 400 * mib},
	}
	for _, tc := range tests {
		t.Run(tc.fsType, func(t *testing.T) {
			file, dev := scratchLoop(t, tc.from)
			mnt := formatAndMount(t, m, dev, tc.fsType)
			before, err := StatFS(mnt)
			if err != nil {
				t.Fatal(err)
			}
			// Staging calls ResizeFS on every mount; with nothing to grow it
			// must succeed and say so, for ext4 even without CAP_SYS_RESOURCE.
			if grew, err := m.ResizeFS(dev, mnt); err != nil || grew {
				t.Errorf("ResizeFS of a full-size filesystem = %v, %v; want false", grew, err)
			}

			if err := GrowFile(file, tc.to); err != nil {
				t.Fatal(err)
			}
			if err := RefreshLoopSize(context.Background(), dev); err != nil {
				t.Fatal(err)
			}
			assertDeviceSize(t, dev, tc.to)
			if need, err := m.NeedResize(dev, mnt); err != nil || !need {
				t.Errorf("NeedResize = %v, %v; want true", need, err)
			}
			if tc.fsType == "ext4" && !hasCapability(t, unix.CAP_SYS_RESOURCE) {
				// The kernel refuses EXT4_IOC_RESIZE_FS without it; the
				// error must reach the caller rather than a false "grew".
				if grew, err := m.ResizeFS(dev, mnt); err == nil || grew {
					t.Fatalf("ResizeFS without CAP_SYS_RESOURCE = %v, %v; want an error", grew, err)
				}
				t.Skip("online ext4 resize needs CAP_SYS_RESOURCE, which this host withholds even from root")
			}
			grew, err := m.ResizeFS(dev, mnt)
			if err != nil || !grew {
				t.Fatalf("ResizeFS = %v, %v; want true", grew, err)
			}
			after, err := StatFS(mnt)
			if err != nil {
				t.Fatal(err)
			}
			if d := after.TotalBytes - before.TotalBytes; d < tc.minGrowth {
				t.Errorf("filesystem grew by %d bytes, want at least %d", d, tc.minGrowth)
			}
			if after.TotalBytes > tc.to {
				t.Errorf("filesystem of %d bytes exceeds the %d byte device", after.TotalBytes, tc.to)
			}
			if grew, err := m.ResizeFS(dev, mnt); err != nil || grew {
				t.Errorf("second ResizeFS = %v, %v; want false", grew, err)
			}
		})
	}
}

func TestNeedResizeUnformatted(t *testing.T) {
	requireRoot(t)
	m := NewMounter()
	_, dev := scratchLoop(t, 64*mib)
	if need, err := m.NeedResize(dev, ""); err != nil || need {
		t.Errorf("NeedResize(unformatted) = %v, %v; want false", need, err)
	}
}

// hasCapability reports whether cap is in this process's effective set.
func hasCapability(tb testing.TB, cap int) bool {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return mask&(1<<cap) != 0
		}
	}
	tb.Fatal("no CapEff in /proc/self/status")
	return false
}
