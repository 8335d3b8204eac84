package csi

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
)

// memberCut is one member's part of a group cut.
type memberCut struct {
	v      *volumeRecord
	staged string // the volume's mounted file system, frozen for the cut; "" if none
	dst    string
	how    string // how the cut was made, once it is
}

// cutGroup makes the point-in-time images of all members at one point in time: every mounted
// file system is frozen (each freeze recorded and bounded as for a single cut, the bound
// counted from the first freeze), then every member is cut while all are frozen, then all are
// thawed. The time returned is the group's creation time, taken once all are frozen and before
// the first cut. On a failure every file system is thawed and the cuts already made stay for
// the caller to remove with the members' records. Members never fall back to the live device: a group without cuts would not be
// one point in time.
func (d *Driver) cutGroup(ctx context.Context, cuts []*memberCut) (time.Time, error) {
	var mounts []frozenMount
	ids := make([]string, len(cuts))
	for i, c := range cuts {
		ids[i] = c.v.ID
		if c.staged != "" {
			mounts = append(mounts, frozenMount{volumeID: c.v.ID, path: c.staged})
		}
	}
	var at time.Time
	err := d.frozen(ctx, mounts, func(fctx context.Context) error {
		at = time.Now().UTC()
		for _, c := range cuts {
			how, _, err := d.cutUnfrozen(fctx, c.v, c.dst, false)
			if err != nil {
				return err
			}
			c.how = how
		}
		return nil
	})
	if errors.Is(err, mount.ErrFreezeTimeout) {
		err = d.errFreezeTimeout(err, "the group cut of volumes "+strings.Join(ids, ", "))
	}
	if err != nil {
		return time.Time{}, err
	}
	return at, nil
}
