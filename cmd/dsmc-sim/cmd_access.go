package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

// setAccess implements "set access backup <spec> <node> [<user>]": the session
// node lets another node read matching objects with -fromnode.
func (c *client) setAccess() error {
	typ := strings.ToLower(c.cl.args[0])
	switch {
	case len(typ) >= 1 && strings.HasPrefix("backup", typ):
		typ = "BACKUP"
	case len(typ) >= 1 && strings.HasPrefix("archive", typ):
		typ = "ARCHIVE"
	default:
		c.msg("ANS1107E", c.cl.args[0])
		return errStop
	}
	rule := store.AccessRule{Type: typ, Spec: absSpec(c.cl.args[1]), Node: strings.ToUpper(c.cl.args[2]), User: "*"}
	if len(c.cl.args) > 3 {
		rule.User = c.cl.args[3]
	}
	return c.store.Update(func(st *store.State) error {
		n := st.Node(c.owner)
		if n == nil {
			return errNotFound
		}
		for _, r := range n.Access {
			if r == rule {
				return nil
			}
		}
		n.Access = append(n.Access, rule)
		return nil
	})
}

func (c *client) accessRules() ([]store.AccessRule, error) {
	var rules []store.AccessRule
	err := c.store.View(func(st *store.State) error {
		if n := st.Node(c.owner); n != nil {
			rules = append(rules, n.Access...)
		}
		return nil
	})
	return rules, err
}

func accessTypeName(t string) string {
	if t == "ARCHIVE" {
		return "Archive"
	}
	return "Backup"
}

// queryAccess prints the rules table of sample 14.
func (c *client) queryAccess() error {
	rules, err := c.accessRules()
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		c.msg("ANS1302E")
		return nil
	}
	c.printf("Type     Node        User        Path\n")
	c.printf("----     ----------------------------\n")
	for _, r := range rules {
		c.printf("%-9s%-12s%-12s%s\n", accessTypeName(r.Type), r.Node, r.User, r.Spec)
	}
	return nil
}

// deleteAccess lists the rules with an index and deletes those named on stdin
// (sample 14); "quit" or EOF cancels.
func (c *client) deleteAccess() error {
	rules, err := c.accessRules()
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		c.msg("ANS1302E")
		return nil
	}
	c.printf("Index Type     Node        User        Path    \n")
	c.printf("----- ----     ----------------------------\n")
	for i, r := range rules {
		c.printf("%3d   %-9s%-12s%-12s%s\n", i+1, accessTypeName(r.Type), r.Node, r.User, r.Spec)
	}
	c.printf("\nEnter Index of rule(s) to delete, or quit to cancel:\n")
	ans, err := c.readLine()
	if err != nil || strings.EqualFold(strings.TrimSpace(ans), "quit") || strings.TrimSpace(ans) == "" {
		return nil
	}
	drop := map[store.AccessRule]bool{}
	for _, f := range strings.FieldsFunc(ans, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b > len(rules) || a > b {
			c.msg("ANS1107E", f)
			return errStop
		}
		for i := a; i <= b; i++ {
			drop[rules[i-1]] = true
		}
	}
	return c.store.Update(func(st *store.State) error {
		n := st.Node(c.owner)
		if n == nil {
			return nil
		}
		kept := n.Access[:0]
		for _, r := range n.Access {
			if !drop[r] {
				kept = append(kept, r)
			}
		}
		n.Access = kept
		return nil
	})
}

// setPassword implements "set password <old> <new>".
func (c *client) setPassword() error {
	oldPw, newPw := c.cl.args[0], c.cl.args[1]
	ok := false
	err := c.store.Update(func(st *store.State) error {
		n := st.Node(c.node)
		if n == nil || (n.Password != "" && n.Password != oldPw) {
			return nil
		}
		n.Password = newPw
		ok = true
		return nil
	})
	if err != nil {
		return err
	}
	if !ok {
		c.msg("ANS1051I")
		c.rcOverride = 12
		return errStop
	}
	c.printf("Password updated.\n")
	return nil
}

// cancelRestore clears pending restartable restores injected through the fault
// file for this node (the real command cancels the server's restartable
// session).
func (c *client) cancelRestore() error {
	removed := 0
	err := c.store.WithFileLocked(func() error {
		b, err := readFaultFile(c)
		if err != nil {
			return nil
		}
		var kept []string
		for _, l := range strings.Split(string(b), "\n") {
			body := l
			if j := strings.Index(body, "#"); j >= 0 {
				body = body[:j]
			}
			if f, err := parseFault(strings.TrimSpace(body)); err == nil && f.kind == faultRestartable && (f.node == "" || f.node == c.node || f.node == c.owner) {
				removed++
				continue
			}
			kept = append(kept, l)
		}
		if removed == 0 {
			return nil
		}
		return c.store.WriteFileAtomic(store.FaultFile, []byte(strings.Join(kept, "\n")))
	})
	if err != nil {
		return err
	}
	if removed == 0 {
		c.msg("ANS1302E")
		return nil
	}
	c.printf("%s\n", fmt.Sprintf("Canceled %d restartable restore session(s).", removed))
	return nil
}
