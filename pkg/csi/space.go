package csi

// Space is promised, never hoped for.
//
// Backing files are sparse: a volume takes blocks of the state directory only as it is written.
// Comparing a request with today's free space alone lets the driver create more volumes than the
// file system can hold, and then a write into one volume fails deep in the loop driver (lost page
// writes, a corrupt file system) because another volume took the block first. So every byte
// promised is accounted for, from the files in the state directory alone (no records are read
// or written, so the figure is right after a crash too):
//
//   - a volume (volumes/<id>.img) still owes its size minus the blocks it owns alone. Blocks it
//     shares with a cut or a clone (after a reflink) are owed too: each one the volume overwrites
//     needs a new block. That is the copy-on-write growth of a cut, up to the volume's size. A
//     block shared by two volumes is owed by both, though one of them keeps it: an overstatement
//     by at most the shared bytes, and only until they diverge.
//   - a restore writes volumes/<id>.img.restore, which is renamed over the backing file, so its
//     blocks pay the same debt: a restore in progress owes its volume's full size.
//   - cuts (cuts/*) are never written after they are made, so they owe nothing of their own.
//
// Available to promise = statfs available × overcommit ratio − Σ owed. CreateVolume, clones and
// ControllerExpandVolume reserve their size against it under one lock, and GetCapacity reports
// it. With --overcommit-ratio above 1 the operator opts into thin provisioning and accepts that
// a full file system fails writes of some volume.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// ledger holds the reservations of the driver's state directory: sizes promised by calls that
// have checked the space but not yet made their files.
type ledger struct {
	mu      sync.Mutex
	ratio   float64 // how many times the free space volumes may promise; 1: every promised byte exists
	pending int64
}

func (d *Driver) ledger() *ledger { return d.space }

// allocated is the space a file takes on disk.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// spaceFile is what the accounting needs of one file in the state directory.
type spaceFile struct {
	name      string // relative to the state directory
	size      int64  // apparent size
	allocated int64  // bytes of blocks allocated
	shared    int64  // of those, bytes shared with another file (reflink)
}

// owed sums what the files of a state directory may still write: see the comment at the top.
func owed(files []spaceFile) int64 {
	volumes := map[string]int64{} // backing file -> debt
	for _, f := range files {
		dir, base := filepath.Split(f.name)
		if filepath.Clean(dir) != "volumes" {
			continue
		}
		img, isRestore := strings.CutSuffix(base, ".restore")
		if !strings.HasSuffix(img, ".img") {
			continue
		}
		owned := f.allocated - min(f.shared, f.allocated)
		if isRestore {
			volumes[img] -= owned
		} else {
			volumes[img] += f.size - owned
		}
	}
	var total int64
	for _, debt := range volumes {
		total = satAdd(total, max(debt, 0))
	}
	return total
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// promisable is the arithmetic of the policy: never negative.
func promisable(available int64, ratio float64, owed, pending int64) int64 {
	budget := int64(math.MaxInt64)
	// float64(MaxInt64) rounds up to 2^63, which does not convert back.
	if f := float64(available) * ratio; f < float64(math.MaxInt64) {
		budget = int64(f)
	}
	return max(budget-satAdd(owed, pending), 0)
}

func (d *Driver) spaceFiles() ([]spaceFile, error) {
	var out []spaceFile
	for _, dir := range []string{"volumes"} {
		entries, err := os.ReadDir(filepath.Join(d.opts.StateDir, dir))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			} else if err != nil {
				return nil, err
			}
			path := filepath.Join(d.opts.StateDir, dir, e.Name())
			shared, err := mount.SharedBytes(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return nil, err
			}
			out = append(out, spaceFile{name: filepath.Join(dir, e.Name()), size: fi.Size(), allocated: allocated(fi), shared: shared})
		}
	}
	return out, nil
}

// availableToPromise is what may still be promised; the caller holds l.mu.
func (d *Driver) availableToPromise(l *ledger) (int64, error) {
	st, err := mount.StatFS(d.opts.StateDir)
	if err != nil {
		return 0, err
	}
	files, err := d.spaceFiles()
	if err != nil {
		return 0, fmt.Errorf("space accounting of %s: %w", d.opts.StateDir, err)
	}
	return promisable(st.AvailableBytes, l.ratio, owed(files), l.pending), nil
}

// AvailableToPromise is the figure GetCapacity reports.
func (d *Driver) AvailableToPromise() (int64, error) {
	l := d.ledger()
	l.mu.Lock()
	defer l.mu.Unlock()
	return d.availableToPromise(l)
}

// reserveSpace promises size bytes or refuses with RESOURCE_EXHAUSTED. The reservation stands
// until release is called, which the caller does once the file that carries the promise exists
// (or has been removed again): counting it twice for a moment is safe, not at all is not.
func (d *Driver) reserveSpace(size int64) (release func(), err error) {
	l := d.ledger()
	l.mu.Lock()
	defer l.mu.Unlock()
	atp, err := d.availableToPromise(l)
	if err != nil {
		return nil, err
	}
	if size > atp {
		return nil, errExhausted("%d bytes requested, %d can be promised on node %s (free space less what existing volumes, cuts and restores may still write)", size, atp, d.opts.NodeID)
	}
	l.pending += size
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.pending -= size
			l.mu.Unlock()
		})
	}, nil
}
