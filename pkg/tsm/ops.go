package tsm

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DeleteAll removes every version of object, inactive and active, and then
// confirms with a query that includes inactive versions that nothing is
// left. It returns nil when nothing is left, also when nothing existed.
//
// Why two deletes: Delete Backup removes only the active version by default
// (deltype=ACTIVE, https://www.ibm.com/support/knowledgecenter/en/SSEQVQ_8.1.0/client/r_cmd_delbkup.html),
// and "If you delete an active version of an object, the first inactive
// version becomes active" (IBM API, "Deleting objects from the server",
// https://www.ibm.com/docs/en/SSEQVQ_8.1.19/api/c_obj_del_srv.html).
// deltype=ALL needs a fully wildcarded directory (ANS1598E). So inactive
// versions go first, then the active one: once no inactive version is left,
// deleting the active one cannot promote anything.
func (c *Client) DeleteAll(ctx context.Context, mode Mode, object string) error {
	if err := firstErr(checkMode(mode), checkName("object", object, false)); err != nil {
		return &Error{Op: "delete backup", RC: -1, Kind: KindInvalid, Detail: err.Error()}
	}
	for _, dt := range []string{"inactive", "active"} {
		if _, err := c.deleteType(ctx, mode, dt, object); err != nil && !IsNotFound(err) {
			return err
		}
	}
	left, err := c.versions(ctx, mode, object)
	if err != nil {
		return err
	}
	if len(left.Objects) > 0 || len(left.Skipped) > 0 {
		return &Error{Op: "delete backup", RC: -1, Kind: KindFailed,
			Detail: fmt.Sprintf("after deleting inactive and active versions of %s, the server still lists %s",
				object, describeVersions(left))}
	}
	return nil
}

// versions lists every version (active and inactive) of exactly object.
func (c *Client) versions(ctx context.Context, mode Mode, object string) (*Listing, error) {
	var l *Listing
	var err error
	if mode == ModeImage {
		l, err = c.QueryImageListing(ctx, object, true)
	} else {
		l, err = c.QueryBackupListing(ctx, object, true)
	}
	if err != nil {
		return nil, err
	}
	out := &Listing{Objects: []Object{}, Skipped: l.Skipped}
	for _, o := range l.Objects {
		if o.Name == object {
			out.Objects = append(out.Objects, o)
		}
	}
	return out, nil
}

func describeVersions(l *Listing) string {
	var parts []string
	for _, o := range l.Objects {
		state := "inactive"
		if o.Active {
			state = "active"
		}
		parts = append(parts, fmt.Sprintf("%s version of %d bytes stored %s", state, o.Size, o.BackupTime.Format(time.DateTime)))
	}
	if n := len(l.Skipped); n > 0 {
		parts = append(parts, fmt.Sprintf("%d row(s) it could not parse", n))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// Verify proves an upload: the server must list, for exactly object, one
// active version of size bytes stored at or after notBefore. dsmc prints
// backup times to the second, so notBefore is truncated to the second, and
// Config.ClockSkew widens the window when the server's clock (which stamps
// the version) runs behind this node's. Sizes printed with a unit
// ("64.00 MB") are rounded by dsmc to two decimals, so a difference within
// that rounding (0.5 %) is accepted; a size printed in bytes must match
// exactly. Inactive versions (older uploads) do not matter. Any other
// finding is a KindUnverified error naming what was missing or wrong.
func (c *Client) Verify(ctx context.Context, mode Mode, object string, size int64, notBefore time.Time) error {
	if err := firstErr(checkMode(mode), checkName("object", object, false)); err != nil {
		return &Error{Op: "verify", RC: -1, Kind: KindInvalid, Detail: err.Error()}
	}
	l, err := c.versions(ctx, mode, object)
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return &Error{Op: "verify", RC: -1, Kind: KindUnverified,
			Detail: fmt.Sprintf("%s: ", object) + fmt.Sprintf(format, args...)}
	}
	var active []Object
	for _, o := range l.Objects {
		if o.Active {
			active = append(active, o)
		}
	}
	switch {
	case len(active) == 0 && len(l.Skipped) > 0:
		return fail("no active version found; %d row(s) of the query could not be parsed: %s", len(l.Skipped), l.Skipped[0])
	case len(active) == 0 && len(l.Objects) == 0:
		return fail("the server has no version of it (nothing was stored; an include-exclude rule or a different object name?)")
	case len(active) == 0:
		return fail("the server has only inactive versions (%s)", describeVersions(l))
	case len(active) > 1:
		return fail("the server lists %d active versions (%s)", len(active), describeVersions(&Listing{Objects: active}))
	}
	o := active[0]
	if !sizeMatches(o.Size, size) {
		return fail("the active version has %d bytes, expected %d", o.Size, size)
	}
	if o.BackupTime.Before(notBefore.Add(-c.cfg.ClockSkew).Truncate(time.Second)) {
		return fail("the active version was stored at %s, before this upload started at %s",
			o.BackupTime.Format(time.DateTime), notBefore.In(o.BackupTime.Location()).Format(time.DateTime))
	}
	return nil
}

// sizeMatches compares a size read from a query table with the expected one.
func sizeMatches(got, want int64) bool {
	if got == want {
		return true
	}
	if want < 1024 {
		return false
	}
	d := got - want
	if d < 0 {
		d = -d
	}
	return d*200 <= want
}
