package mount

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestGrowExt4Offline(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "vol.img")
	if err := CreateSparseFile(file, 64<<20); err != nil {
		t.Fatal(err)
	}
	dev, err := AttachLoop(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DetachLoop(context.Background(), dev) })
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	if grew, err := GrowExt4Offline(ctx, dev); err != nil || grew {
		t.Fatalf("full-size file system: grew=%v err=%v", grew, err)
	}
	if err := GrowFile(file, 128<<20); err != nil {
		t.Fatal(err)
	}
	if err := RefreshLoopSize(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if grew, err := GrowExt4Offline(ctx, dev); err != nil || !grew {
		t.Fatalf("after growing the device: grew=%v err=%v", grew, err)
	}
	out, err := exec.Command("dumpe2fs", "-h", dev).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	m, s := blockCountRe.FindSubmatch(out), blockSizeRe.FindSubmatch(out)
	if m == nil || s == nil {
		t.Fatalf("dumpe2fs output: %s", out)
	}
	blocks, _ := strconv.ParseInt(string(m[1]), 10, 64)
	bsize, _ := strconv.ParseInt(string(s[1]), 10, 64)
	if blocks*bsize != 128<<20 {
		t.Fatalf("file system is %d bytes after growing, want %d", blocks*bsize, 128<<20)
	}
	if grew, err := GrowExt4Offline(ctx, dev); err != nil || grew {
		t.Fatalf("second call: grew=%v err=%v", grew, err)
	}
}
