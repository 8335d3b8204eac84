package main

import (
	"sort"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// pitTime returns the point in time of -pitdate/-pittime (end of day when only
// the date is given), or zero.
func (c *client) pitTime() (time.Time, bool, error) {
	d, ok := c.cl.opt("pitdate")
	if !ok {
		return time.Time{}, false, nil
	}
	y, m, day, err := c.fm.parseDate(d)
	if err != nil {
		return time.Time{}, false, err
	}
	h, mi, s := 23, 59, 59
	if t, ok := c.cl.opt("pittime"); ok {
		if h, mi, s, err = parseClock(t); err != nil {
			return time.Time{}, false, err
		}
	}
	return time.Date(y, time.Month(m), day, h, mi, s, 999999999, time.Local), true, nil
}

// objectsMatching returns the read node's objects of a type accepted by match,
// after -fromnode access filtering, grouped by name, each group newest first.
func (c *client) objectsMatching(typ string, match func(string) bool) (map[string][]*store.Object, []string, error) {
	groups := map[string][]*store.Object{}
	err := c.store.View(func(st *store.State) error {
		var objs []*store.Object
		node := c.readNode()
		for _, o := range st.Objects {
			if o.Node == node && o.Type == typ && match(o.Name) {
				cp := *o
				objs = append(objs, &cp)
			}
		}
		for _, o := range c.visible(st, objs) {
			groups[o.Name] = append(groups[o.Name], o)
		}
		return nil
	})
	names := make([]string, 0, len(groups))
	for n, g := range groups {
		store.SortNewestFirst(g)
		names = append(names, n)
	}
	sort.Strings(names)
	return groups, names, err
}

// choose picks the version a restore uses: the one current at -pitdate, the
// newest with -latest or -inactive, otherwise the active one.
func (c *client) choose(versions []*store.Object) (*store.Object, error) {
	pit, hasPit, err := c.pitTime()
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		switch {
		case hasPit:
			if !v.BackupTime.After(pit) {
				return v, nil
			}
		case c.cl.flag("latest") || c.cl.flag("inactive"):
			return v, nil
		case v.Active:
			return v, nil
		}
	}
	return nil, nil
}

// listFilter keeps the versions a query shows: active ones, all with -inactive,
// and with -pitdate those that existed then.
func (c *client) listFilter(versions []*store.Object) ([]*store.Object, error) {
	pit, hasPit, err := c.pitTime()
	if err != nil {
		return nil, err
	}
	var out []*store.Object
	for _, v := range versions {
		if hasPit && v.BackupTime.After(pit) {
			continue
		}
		if v.Active || c.cl.flag("inactive") || hasPit {
			out = append(out, v)
		}
	}
	return out, nil
}
