package mount

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/klog/v2"
	utilexec "k8s.io/utils/exec"
)

var (
	blockCountRe = regexp.MustCompile(`(?m)^Block count:\s+(\d+)`)
	blockSizeRe  = regexp.MustCompile(`(?m)^Block size:\s+(\d+)`)
)

// GrowExt4Offline grows the unmounted ext4 file system on dev to fill the device and reports
// whether it grew. Growing before the mount needs no CAP_SYS_RESOURCE, which the online resize
// ioctl does; a volume restored into a larger device is grown this way when it is first staged.
func GrowExt4Offline(ctx context.Context, dev string) (bool, error) {
	out, err := run(ctx, "dumpe2fs", "-h", dev)
	if err != nil {
		return false, err
	}
	count, size := blockCountRe.FindSubmatch(out), blockSizeRe.FindSubmatch(out)
	if count == nil || size == nil {
		return false, fmt.Errorf("dumpe2fs -h %s: no block count or size in its output", dev)
	}
	blocks, _ := strconv.ParseInt(string(count[1]), 10, 64)
	bsize, _ := strconv.ParseInt(string(size[1]), 10, 64)
	devSize, err := DeviceSize(dev)
	if err != nil {
		return false, err
	}
	if bsize <= 0 || devSize-blocks*bsize < bsize {
		return false, nil
	}
	// resize2fs insists on a freshly checked file system; e2fsck exits 1 when it fixed
	// something, which is still a file system that may be grown.
	if _, err := run(ctx, "e2fsck", "-f", "-p", dev); err != nil {
		var exitErr utilexec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 1 {
			return false, err
		}
	}
	if _, err := run(ctx, "resize2fs", dev); err != nil {
		return false, err
	}
	klog.InfoS("Grew ext4 file system before mounting", "device", dev, "fromBytes", blocks*bsize, "toBytes", devSize)
	return true, nil
}
