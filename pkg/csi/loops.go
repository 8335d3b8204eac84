package csi

import (
	"context"
	"os"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// loopDevices is what the controller side needs of the kernel's loop devices: the one part of
// its work that needs root. hostLoops is the kernel's; unit tests substitute a fake so that
// volume creation, restores and recovery run in-process.
type loopDevices interface {
	Attach(ctx context.Context, file string) (dev string, err error) // idempotent
	Find(file string) (dev string, err error)                        // "" if none
	Detach(ctx context.Context, dev string) error
	Refresh(ctx context.Context, dev string) error // the backing file grew
	Flush(dev string) error                        // write back the device's buffers
}

type hostLoops struct{}

func (hostLoops) Attach(ctx context.Context, file string) (string, error) {
	return mount.AttachLoop(ctx, file)
}
func (hostLoops) Find(file string) (string, error)             { return mount.FindLoop(file) }
func (hostLoops) Detach(ctx context.Context, dev string) error { return mount.DetachLoop(ctx, dev) }
func (hostLoops) Refresh(ctx context.Context, dev string) error {
	return mount.RefreshLoopSize(ctx, dev)
}
func (hostLoops) Flush(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
