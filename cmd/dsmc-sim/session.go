package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// resolveNode picks the node name: -virtualnodename, DSMSIM_NODE, NODENAME of
// the dsm.sys stanza, else the upper-cased host name.
func (c *client) resolveNode() string {
	if v, ok := c.cl.opt("virtualnodename"); ok {
		return strings.ToUpper(v)
	}
	if v := c.getenv("DSMSIM_NODE"); v != "" {
		return strings.ToUpper(v)
	}
	if c.stanza != nil {
		if v := c.stanza.opts["nodename"]; v != "" {
			return strings.ToUpper(v)
		}
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "LOCALHOST"
	}
	return strings.ToUpper(h)
}

// connect prints the session lines and logs in: node name, optional password
// prompts, the server greeting, and the proxy check for -asnodename.
func (c *client) connect() error {
	c.node = c.resolveNode()
	c.owner = c.node
	c.user = currentUser()
	root := c.getenv("DSMSIM_ROOT")
	c.printf("\nNode Name: %s\n", c.node)
	if root == "" {
		c.msg("ANS1017E")
		return errStop
	}
	s, err := store.Open(root)
	if err != nil {
		c.diag("server directory %s: %v", root, err)
		c.msg("ANS1017E")
		return errStop
	}
	s.Fsync = c.getenv("DSMSIM_FSYNC") == "1"
	c.store = s

	asn, _ := c.cl.opt("asnodename")
	if asn == "" && c.stanza != nil {
		asn = c.stanza.opts["asnodename"]
	}
	if asn != "" {
		c.owner = strings.ToUpper(asn)
	}
	if v, ok := c.cl.opt("fromnode"); ok {
		c.fromNode = strings.ToUpper(v)
	}
	c.loadFaults()
	if c.firstFiring(faultAuth, nil) != nil {
		c.msg("ANS1025E")
		return errStop
	}
	if c.firstFiring(faultBusy, nil) != nil {
		// The server refuses the session while all its sessions are in use
		// (MAXSESSIONS); id and wording assumed, see the README table.
		c.msg("ANS1351E")
		return errStop
	}
	if c.firstFiring(faultMountPoints, nil) != nil {
		// The node (or the -asnodename target, whose MAXNUMMP applies to
		// every agent) has no mount point free; id and wording assumed.
		c.msg("ANS0326E")
		return errStop
	}
	rec, err := c.nodeRecord(c.node, true)
	if err != nil {
		c.diag("%v", err)
		c.msg("ANS1017E")
		return errStop
	}
	if err := c.authenticate(rec); err != nil {
		return err
	}
	now := time.Now()
	var serverName string
	var last time.Time
	err = c.store.View(func(st *store.State) error {
		serverName = st.ServerName
		return nil
	})
	if err == nil {
		last, err = c.store.Touch(c.node, now)
	}
	if err != nil {
		c.diag("%v", err)
		c.msg("ANS1017E")
		return errStop
	}
	if last.IsZero() {
		last = now
	}
	c.serverName = serverName
	c.lastAccess = last
	c.printf("Session established with server %s: Linux/x86_64\n", serverName)
	c.printf("  Server Version %s\n", c.ver.serverLevel)
	c.printf("  Server date/time: %s  Last access: %s\n\n", c.fm.dateTime(now), c.fm.dateTime(last))
	if c.owner != c.node {
		if c.fromNode != "" {
			c.msg("ANS1108E", "-fromnode", c.cl.def.name)
			return errStop
		}
		ok := false
		err := c.store.View(func(st *store.State) error {
			t := st.Node(c.owner)
			ok = t != nil && t.HasProxyAgent(c.node)
			return nil
		})
		if err != nil || !ok {
			c.msg("ANS1025E")
			return errStop
		}
		c.printf("Accessing as node: %s\n", c.owner)
	}
	return nil
}

// nodeRecord returns a copy of a node's registration, registering it on first
// use when create is set.
func (c *client) nodeRecord(name string, create bool) (*store.Node, error) {
	var out *store.Node
	look := func(st *store.State) error {
		if n := st.Node(name); n != nil {
			cp := *n
			out = &cp
		}
		return nil
	}
	// A look under the shared lock first: only a node's first session writes the state.
	err := c.store.View(look)
	if err == nil && out == nil && create {
		err = c.store.Update(func(st *store.State) error {
			st.EnsureNode(name, time.Now())
			return look(st)
		})
	}
	return out, err
}

// authenticate implements PASSWORDACCESS PROMPT: -password if given, else the
// user id and password prompts on stdout, answered on stdin. EOF means the
// client cannot prompt (ANS2050E, then the session is lost).
func (c *client) authenticate(n *store.Node) error {
	_, virtual := c.cl.opt("virtualnodename")
	storeAt := ""
	if n.PasswordAccess != store.AccessPrompt && !virtual {
		// PASSWORDACCESS GENERATE: IBM, Passwordaccess option
		// (https://www.ibm.com/docs/en/storage-protect/8.1.22?topic=reference-passwordaccess):
		// the client stores the password and uses it without asking; until
		// it is stored, the client prompts for it once. The simulator keeps
		// the store only when the stanza names a PASSWORDDIR (without one
		// it behaves as if the password were always stored).
		dir := ""
		if c.stanza != nil {
			dir = c.stanza.opts["passworddir"]
		}
		if dir == "" {
			return nil
		}
		storeAt = filepath.Join(dir, "dsmsim-"+strings.ToUpper(n.Name)+".pwd")
		if b, err := os.ReadFile(storeAt); err == nil && string(b) == passwordDigest(n.Password) {
			return nil
		}
	}
	if pw, ok := c.cl.opt("password"); ok && storeAt == "" {
		if pw == n.Password {
			return nil
		}
		c.msg("ANS1051I")
	}
	cannotPrompt := func() error {
		c.printf("\n")
		c.msg("ANS2050E")
		c.msg("ANS1029E")
		return errStop
	}
	for attempt := 0; attempt < 3; attempt++ {
		c.printf("Please enter your user id <%s>: ", c.node)
		id, err := c.readLine()
		if err != nil {
			return cannotPrompt()
		}
		c.printf("\n")
		if id = strings.TrimSpace(id); id != "" && !strings.EqualFold(id, c.node) {
			other, err := c.nodeRecord(id, false)
			if err != nil {
				return err
			}
			if c.owner == c.node {
				c.owner = strings.ToUpper(id)
			}
			c.node = strings.ToUpper(id)
			n = other
		}
		c.printf("Please enter password for user id \"%s\": ", c.node)
		pw, err := c.readLine()
		if err != nil {
			return cannotPrompt()
		}
		c.printf("\n")
		if n != nil && pw == n.Password {
			if storeAt != "" {
				if err := os.WriteFile(storeAt, []byte(passwordDigest(pw)), 0o600); err != nil {
					c.diag("storing the password: %v", err)
				}
			}
			return nil
		}
		c.msg("ANS1051I")
	}
	c.msg("ANS1025E")
	return errStop
}

// readNode is the node whose objects queries and restores see.
func (c *client) readNode() string {
	if c.fromNode != "" {
		return c.fromNode
	}
	return c.owner
}

// visible filters objects of the read node by the access rules that node set,
// when another node reads them with -fromnode.
func (c *client) visible(st *store.State, objs []*store.Object) []*store.Object {
	if c.fromNode == "" || c.fromNode == c.owner {
		return objs
	}
	owner := st.Node(c.fromNode)
	if owner == nil {
		return nil
	}
	var out []*store.Object
	for _, o := range objs {
		for _, r := range owner.Access {
			if r.Type == "BACKUP" && (r.Node == "*" || strings.EqualFold(r.Node, c.node)) &&
				(r.User == "*" || r.User == "" || r.User == c.user) && accessMatch(r.Spec, o.Name) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

var errNotFound = errors.New("not found")

// passwordDigest is what the simulator's password store holds: never the
// password itself.
func passwordDigest(pw string) string {
	sum := sha256.Sum256([]byte("dsmsim-password:" + pw))
	return hex.EncodeToString(sum[:])
}
