package main

import (
	"sort"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// queryImage lists image backups. The column layout is a reconstruction (no
// real sample was found), see README.
func (c *client) queryImage() error {
	match := func(string) bool { return true }
	if len(c.cl.args) == 1 {
		name := absName(c.cl.args[0])
		match = func(n string) bool { return n == name }
	}
	groups, names, err := c.objectsMatching(store.TypeImage, match)
	if err != nil {
		return err
	}
	var rows []*store.Object
	for _, n := range names {
		vs, err := c.listFilter(groups[n])
		if err != nil {
			c.msg("ANS1107E", "-pitdate")
			return errStop
		}
		rows = append(rows, vs...)
	}
	if len(rows) == 0 {
		c.msg("ANS1092W")
		return nil
	}
	c.printf("  Image Size  Stored Size FSType    Backup Date           Mgmt Class A/I Image Name\n")
	c.printf("  ----------  ----------- ------    -------------------   ---------- --- ----------\n")
	for i, o := range rows {
		c.printf("%-3d%9s%13s %-9s %s   %-10s  %s  %s\n", i+1, c.fm.sizeText(o.Size), c.fm.sizeText(o.Size),
			o.FSType, c.fm.dateTime(o.BackupTime), o.MgmtClass, activeFlag(o), o.Name)
	}
	return nil
}

func activeFlag(o *store.Object) string {
	if o.Active {
		return "A"
	}
	return "I"
}

// querySizeText is the size column of query backup: exact bytes with the "B"
// unit (samples 04, 09), KB only for files beyond 1 TB.
func (c *client) querySizeText(n int64) (string, string) {
	if n >= 1<<40 {
		return c.fm.count(n / 1024), "KB"
	}
	return c.fm.count(n), "B"
}

// queryBackup lists file backups matching the specs (layout of samples 09/10,
// with the 8.x unit column of sample 04).
func (c *client) queryBackup() error {
	subdir := c.cl.yes("subdir", false)
	var rows []*store.Object
	seen := map[uint64]bool{}
	for _, raw := range c.cl.args {
		groups, names, err := c.objectsMatching(store.TypeFile, specMatcher(absSpec(raw), subdir))
		if err != nil {
			return err
		}
		for _, n := range names {
			vs, err := c.listFilter(groups[n])
			if err != nil {
				c.msg("ANS1107E", "-pitdate")
				return errStop
			}
			for _, v := range vs {
				if !seen[v.ID] {
					seen[v.ID] = true
					rows = append(rows, v)
				}
			}
		}
	}
	if len(rows) == 0 {
		c.msg("ANS1092W")
		return nil
	}
	c.printf("             Size      Backup Date        Mgmt Class A/I File\n")
	c.printf("             ----      -----------        ---------- --- ----\n")
	detail := c.cl.flag("detail")
	for _, o := range rows {
		num, unit := c.querySizeText(o.Size)
		c.printf("%14s %2s  %s    %-10s  %s  %s\n", num, unit, c.fm.dateTime(o.BackupTime), o.MgmtClass, activeFlag(o), o.Name)
		if detail {
			c.printf("         Modified: %s  Accessed: %s  Inode changed: %s\n",
				c.fm.dateTime(o.ModTime), c.fm.dateTime(o.AccessTime), c.fm.dateTime(o.ChangeTime))
		}
	}
	return nil
}

// querySession prints the connection information block of sample 02.
func (c *client) querySession() error {
	rec, err := c.nodeRecord(c.owner, false)
	if err != nil {
		return err
	}
	del := "No"
	if rec != nil && rec.BackDelete {
		del = "Yes"
	}
	c.printf("%s Server Connection Information\n\n", c.ver.product)
	c.printf("Home Server Name........: %s\n", c.serverName)
	c.printf("Server Type.............: Linux/x86_64\n")
	c.printf("Archive Retain Protect..: \"No\"\n")
	c.printf("Server Version..........: %s\n", c.ver.serverVersionShort())
	c.printf("Last Access Date........: %s\n", c.fm.dateTime(c.lastAccess))
	c.printf("Delete Backup Files.....: \"%s\"\n", del)
	c.printf("Delete Archive Files....: \"Yes\"\n")
	c.printf("Deduplication...........: \"Server Only\"\n\n")
	c.printf("Node Name...............: %s\n", c.node)
	c.printf("User Name...............: %s\n\n", c.user)
	c.printf("SSL Information.........: TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n\n")
	c.printf("Secondary Server Information\nNot configured for failover\n")
	return nil
}

// queryFilespace lists the file spaces of the read node (layout of sample 03).
func (c *client) queryFilespace() error {
	type fsInfo struct {
		name, typ string
		last      time.Time
	}
	fss := map[string]*fsInfo{}
	err := c.store.View(func(st *store.State) error {
		var objs []*store.Object
		for _, o := range st.Objects {
			if o.Node == c.readNode() {
				objs = append(objs, o)
			}
		}
		for _, o := range c.visible(st, objs) {
			fi := fss[o.Filespace]
			if fi == nil {
				fi = &fsInfo{name: o.Filespace, typ: o.FSType}
				fss[o.Filespace] = fi
			}
			if o.BackupTime.After(fi.last) {
				fi.last = o.BackupTime
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var list []*fsInfo
	for _, f := range fss {
		if len(c.cl.args) == 1 && f.name != absName(c.cl.args[0]) {
			continue
		}
		list = append(list, f)
	}
	if len(list) == 0 {
		c.msg("ANS1302E")
		return nil
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	c.printf("  #     Last Incr Date          Type    File Space Name\n")
	c.printf("%s\n", strings.Repeat("-", 80))
	for i, f := range list {
		c.printf("%3d     %s     %-8s%-16s\n", i+1, c.fm.dateTime(f.last), f.typ, f.name)
	}
	return nil
}
