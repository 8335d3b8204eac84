package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestStatFS(t *testing.T) {
	requireRoot(t)
	_, _, mnt := scratchFS(t, "ext4", 64*mib)
	before, err := StatFS(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if before.TotalBytes <= 48*mib || before.TotalBytes > 64*mib {
		t.Errorf("TotalBytes = %d for a 64 MiB device", before.TotalBytes)
	}
	if before.UsedBytes+before.AvailableBytes > before.TotalBytes {
		t.Errorf("used %d + available %d > total %d", before.UsedBytes, before.AvailableBytes, before.TotalBytes)
	}
	if before.TotalInodes <= 0 || before.UsedInodes+before.FreeInodes != before.TotalInodes {
		t.Errorf("inodes: %+v", before)
	}

	const files = 10
	for i := range files {
		p := filepath.Join(mnt, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, randomBytes(t, mib), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd(t, "sync", "-f", mnt)
	after, err := StatFS(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.UsedBytes - before.UsedBytes; d < files*mib {
		t.Errorf("UsedBytes grew by %d, want at least %d", d, files*mib)
	}
	if d := before.AvailableBytes - after.AvailableBytes; d < files*mib {
		t.Errorf("AvailableBytes shrank by %d, want at least %d", d, files*mib)
	}
	if d := after.UsedInodes - before.UsedInodes; d != files {
		t.Errorf("UsedInodes grew by %d, want %d", d, files)
	}
	if after.TotalBytes != before.TotalBytes || after.TotalInodes != before.TotalInodes {
		t.Errorf("totals changed: %+v -> %+v", before, after)
	}

	if _, err := StatFS(filepath.Join(mnt, "missing")); err == nil {
		t.Error("StatFS of a missing path succeeded")
	}
}
