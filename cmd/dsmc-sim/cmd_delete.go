package main

import (
	"strings"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// deleteBackup implements "delete backup": the selected versions (-deltype
// active by default) disappear at once, as the server marks them for immediate
// expiration. The node needs BACKDELETE authority.
//
// Deleting the active version promotes the newest inactive one: IBM API,
// "Deleting objects from the server"
// (https://www.ibm.com/docs/en/SSEQVQ_8.1.19/api/c_obj_del_srv.html): "If you
// delete an active version of an object, the first inactive version becomes
// active." -deltype=inactive removes only inactive versions and -deltype=all
// needs a fully wildcarded directory (ANS1598E,
// https://www.ibm.com/support/knowledgecenter/SSGSG7_7.1.2/com.ibm.itsm.msgs.client.doc/msg-ANS1598E.html),
// so removing every version of one name takes inactive, then active.
func (c *client) deleteBackup() error {
	objtype, _ := c.cl.opt("objtype")
	typ := store.TypeFile
	if objtype == "image" {
		typ = store.TypeImage
	}
	deltype, _ := c.cl.opt("deltype")
	if deltype == "" {
		deltype = "active"
	}
	c.printf("Delete Backup function invoked.\n\n")
	rec, err := c.nodeRecord(c.owner, false)
	if err != nil {
		return err
	}
	if rec == nil || !rec.BackDelete {
		c.msg("ANS1126E")
		return errStop
	}
	if deltype == "all" {
		for _, raw := range c.cl.args {
			if !strings.HasSuffix(raw, "/*") {
				c.msg("ANS1598E")
				return errStop
			}
		}
	}
	subdir := c.cl.yes("subdir", false)
	type sel struct {
		spec string
		ids  map[uint64]bool
	}
	var sels []sel
	for _, raw := range c.cl.args {
		spec := absSpec(raw)
		match := specMatcher(spec, subdir)
		if typ == store.TypeImage {
			spec = absName(raw)
			match = func(n string) bool { return n == spec }
		}
		groups, _, err := c.objectsMatching(typ, match)
		if err != nil {
			return err
		}
		s := sel{spec: spec, ids: map[uint64]bool{}}
		for _, g := range groups {
			for _, o := range g {
				if deltype == "all" || (deltype == "active") == o.Active {
					s.ids[o.ID] = true
				}
			}
		}
		if len(s.ids) == 0 {
			c.msg("ANS1345E", spec)
			continue
		}
		sels = append(sels, s)
	}
	if len(sels) == 0 {
		return errStop
	}
	if !c.cl.flag("noprompt") {
		if !c.confirm("Do you wish to continue? (Yes (Y)/No (N)) ") {
			c.msg("ANS1034E")
			return errStop
		}
	}
	var deleted, failed int64
	var gone []string
	var names []string
	err = c.store.Update(func(st *store.State) error {
		var drop []*store.Object
		for _, s := range sels {
			for _, o := range st.Objects {
				if s.ids[o.ID] {
					drop = append(drop, o)
					names = append(names, o.Name)
				}
			}
		}
		deleted = int64(len(drop))
		gone = st.Remove(drop)
		for _, o := range drop {
			if o.Active {
				st.Promote(o.Node, o.Type, o.Name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.store.RemoveData(gone)
	// Versions a concurrent client deleted first count as failures.
	for _, s := range sels {
		failed += int64(len(s.ids))
	}
	failed -= deleted
	if !c.quiet {
		for _, n := range names {
			c.printf("Deleting %s [Done]\n", n)
		}
	}
	c.printf("\n")
	c.printDeleteStats(deleted, failed)
	return nil
}
