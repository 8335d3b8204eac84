package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/cmd/dsmc-sim/internal/store"
)

const adminUsage = `usage: dsmc-sim admin <command>   (server directory: $DSMSIM_ROOT)
  register node NAME PASSWORD [passwordaccess=generate|prompt] [backdelete=yes|no]
  update node NAME [password=P] [passwordaccess=generate|prompt] [backdelete=yes|no]
  remove node NAME
  query node [NAME]
  grant proxynode target=T agent=A[,B...]
  revoke proxynode target=T agent=A[,B...]
  query proxynode [target=T]
  grant access owner=A node=B [spec=PATTERN] [user=U]
  revoke access owner=A [node=B] [spec=PATTERN]
  set servername NAME
  query objects [node=N] [type=image|file]
  damage object NAME offset=N [node=N] [type=image|file]
  seed objects node=N type=image|file [mgmtclass=C]   (stdin: one "NAME SIZE" per line)
  fault add SPEC | fault list | fault clear | fault reset
  sweep
`

// adminErr is a failed administrative command (exit code 12).
type adminErr struct{ msg string }

func (e *adminErr) Error() string { return e.msg }

func adminFail(format string, args ...any) error { return &adminErr{fmt.Sprintf(format, args...)} }

// runAdmin is the server-side administration of the simulator. Tests and demos
// use it; the driver under test never does.
func runAdmin(args []string, getenv func(string) string, in io.Reader, out, errw io.Writer) int {
	root := getenv("DSMSIM_ROOT")
	if root == "" {
		_, _ = fmt.Fprintln(errw, "dsmc-sim admin: DSMSIM_ROOT is not set")
		return 12
	}
	if len(args) == 0 {
		_, _ = fmt.Fprint(errw, adminUsage)
		return 2
	}
	s, err := store.Open(root)
	if err != nil {
		_, _ = fmt.Fprintln(errw, "dsmc-sim admin:", err)
		return 12
	}
	a := &admin{s: s, in: in, out: out}
	err = a.dispatch(args)
	var ae *adminErr
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ae):
		_, _ = fmt.Fprintln(errw, "dsmc-sim admin:", ae.msg)
		return 12
	case errors.Is(err, errUsage):
		_, _ = fmt.Fprint(errw, adminUsage)
		return 2
	default:
		_, _ = fmt.Fprintln(errw, "dsmc-sim admin:", err)
		return 12
	}
}

var errUsage = errors.New("usage")

type admin struct {
	s   *store.Store
	in  io.Reader
	out io.Writer
}

// kv splits key=value arguments (keys lower-cased) from positional ones.
func kv(args []string) (map[string]string, []string) {
	m := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			m[strings.ToLower(k)] = v
			continue
		}
		pos = append(pos, a)
	}
	return m, pos
}

func is(w, full string) bool {
	w = strings.ToLower(w)
	return len(w) >= min(3, len(full)) && strings.HasPrefix(full, w) || (w == "q" && full == "query")
}

func (a *admin) dispatch(args []string) error {
	if len(args) < 1 {
		return errUsage
	}
	verb := args[0]
	obj := ""
	if len(args) > 1 {
		obj = args[1]
	}
	rest := []string{}
	if len(args) > 2 {
		rest = args[2:]
	}
	switch {
	case is(verb, "register") && is(obj, "node"):
		return a.registerNode(rest)
	case is(verb, "update") && is(obj, "node"):
		return a.updateNode(rest)
	case is(verb, "remove") && is(obj, "node"):
		return a.removeNode(rest)
	case is(verb, "query") && is(obj, "node"):
		return a.queryNode(rest)
	case is(verb, "grant") && is(obj, "proxynode"):
		return a.proxy(rest, true)
	case is(verb, "revoke") && is(obj, "proxynode"):
		return a.proxy(rest, false)
	case is(verb, "query") && is(obj, "proxynode"):
		return a.queryProxy(rest)
	case is(verb, "grant") && is(obj, "access"):
		return a.access(rest, true)
	case is(verb, "revoke") && is(obj, "access"):
		return a.access(rest, false)
	case is(verb, "set") && is(obj, "servername"):
		if len(rest) != 1 {
			return errUsage
		}
		return a.s.Update(func(st *store.State) error {
			st.ServerName = strings.ToUpper(rest[0])
			return nil
		})
	case is(verb, "query") && is(obj, "objects"):
		return a.queryObjects(rest)
	case is(verb, "damage") && is(obj, "object"):
		return a.damageObject(rest)
	case is(verb, "seed") && is(obj, "objects"):
		return a.seedObjects(rest)
	case is(verb, "fault"):
		return a.fault(args[1:])
	case is(verb, "sweep"):
		return a.s.Sweep()
	}
	return errUsage
}

func applyNodeSettings(n *store.Node, m map[string]string) error {
	for k, v := range m {
		switch k {
		case "password":
			n.Password = v
		case "passwordaccess", "passwordacc", "passacc":
			switch strings.ToLower(v) {
			case store.AccessGenerate, store.AccessPrompt:
				n.PasswordAccess = strings.ToLower(v)
			default:
				return adminFail("passwordaccess must be generate or prompt, not %q", v)
			}
		case "backdelete", "backdel":
			b, ok := yesNo(v)
			if !ok {
				return adminFail("backdelete must be yes or no, not %q", v)
			}
			n.BackDelete = b
		default:
			return adminFail("unknown node setting %q", k)
		}
	}
	return nil
}

func (a *admin) registerNode(args []string) error {
	m, pos := kv(args)
	if len(pos) < 1 || len(pos) > 2 {
		return errUsage
	}
	name := strings.ToUpper(pos[0])
	if len(pos) == 2 {
		m["password"] = pos[1]
	}
	err := a.s.Update(func(st *store.State) error {
		if st.Node(name) != nil {
			return adminFail("node %s is already registered", name)
		}
		n := &store.Node{Name: name, PasswordAccess: store.AccessGenerate, BackDelete: true, Registered: time.Now()}
		if err := applyNodeSettings(n, m); err != nil {
			return err
		}
		st.Nodes[name] = n
		return nil
	})
	if err == nil {
		_, _ = fmt.Fprintf(a.out, "Node %s registered.\n", name)
	}
	return err
}

func (a *admin) updateNode(args []string) error {
	m, pos := kv(args)
	if len(pos) != 1 {
		return errUsage
	}
	name := strings.ToUpper(pos[0])
	err := a.s.Update(func(st *store.State) error {
		n := st.Node(name)
		if n == nil {
			return adminFail("node %s is not registered", name)
		}
		return applyNodeSettings(n, m)
	})
	if err == nil {
		_, _ = fmt.Fprintf(a.out, "Node %s updated.\n", name)
	}
	return err
}

func (a *admin) removeNode(args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	name := strings.ToUpper(args[0])
	var gone []string
	err := a.s.Update(func(st *store.State) error {
		if st.Node(name) == nil {
			return adminFail("node %s is not registered", name)
		}
		var drop []*store.Object
		for _, o := range st.Objects {
			if o.Node == name {
				drop = append(drop, o)
			}
		}
		gone = st.Remove(drop)
		delete(st.Nodes, name)
		return nil
	})
	if err == nil {
		a.s.RemoveData(gone)
		_, _ = fmt.Fprintf(a.out, "Node %s removed.\n", name)
	}
	return err
}

func (a *admin) queryNode(args []string) error {
	return a.s.View(func(st *store.State) error {
		var names []string
		for n := range st.Nodes {
			if len(args) == 0 || strings.EqualFold(args[0], n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return adminFail("no matching nodes")
		}
		sort.Strings(names)
		_, _ = fmt.Fprintf(a.out, "%-24s %-14s %-10s %s\n", "Node Name", "PasswordAccess", "BackDelete", "Last Access")
		for _, name := range names {
			n := st.Nodes[name]
			bd := "No"
			if n.BackDelete {
				bd = "Yes"
			}
			la := "never"
			if last, err := a.s.LastAccess(n.Name); err != nil {
				return err
			} else if !last.IsZero() {
				la = last.Format(time.RFC3339)
			}
			_, _ = fmt.Fprintf(a.out, "%-24s %-14s %-10s %s\n", n.Name, n.PasswordAccess, bd, la)
		}
		return nil
	})
}

func splitNames(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, strings.ToUpper(x))
		}
	}
	return out
}

// proxy grants or revokes proxy authority. Unregistered nodes are registered
// on the fly, as the client does on first use.
func (a *admin) proxy(args []string, grant bool) error {
	m, pos := kv(args)
	target := strings.ToUpper(m["target"])
	agents := splitNames(m["agent"])
	if len(pos) > 0 || target == "" || len(agents) == 0 {
		return errUsage
	}
	now := time.Now()
	err := a.s.Update(func(st *store.State) error {
		t := st.EnsureNode(target, now)
		for _, ag := range agents {
			st.EnsureNode(ag, now)
			if grant {
				if !t.HasProxyAgent(ag) {
					t.ProxyAgents = append(t.ProxyAgents, ag)
				}
				continue
			}
			kept := t.ProxyAgents[:0]
			for _, x := range t.ProxyAgents {
				if x != ag {
					kept = append(kept, x)
				}
			}
			t.ProxyAgents = kept
		}
		return nil
	})
	if err == nil {
		verb := "granted"
		if !grant {
			verb = "revoked"
		}
		_, _ = fmt.Fprintf(a.out, "Proxy authority to node %s %s for %s.\n", target, verb, strings.Join(agents, ","))
	}
	return err
}

func (a *admin) queryProxy(args []string) error {
	m, _ := kv(args)
	return a.s.View(func(st *store.State) error {
		_, _ = fmt.Fprintf(a.out, "%-20s %s\n", "Target Node", "Agent Node")
		var names []string
		for n := range st.Nodes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := st.Nodes[n]
			if len(t.ProxyAgents) == 0 || (m["target"] != "" && !strings.EqualFold(m["target"], n)) {
				continue
			}
			_, _ = fmt.Fprintf(a.out, "%-20s %s\n", n, strings.Join(t.ProxyAgents, " "))
		}
		return nil
	})
}

// access is the administrator's form of the owner's "set access backup".
func (a *admin) access(args []string, grant bool) error {
	m, pos := kv(args)
	owner := strings.ToUpper(m["owner"])
	if len(pos) > 0 || owner == "" || (grant && m["node"] == "") {
		return errUsage
	}
	spec := m["spec"]
	if spec == "" && grant {
		spec = "*"
	}
	user := m["user"]
	if user == "" {
		user = "*"
	}
	rule := store.AccessRule{Type: "BACKUP", Spec: spec, Node: strings.ToUpper(m["node"]), User: user}
	return a.s.Update(func(st *store.State) error {
		n := st.EnsureNode(owner, time.Now())
		if grant {
			for _, r := range n.Access {
				if r == rule {
					return nil
				}
			}
			n.Access = append(n.Access, rule)
			_, _ = fmt.Fprintf(a.out, "Node %s may now read %s of %s.\n", rule.Node, spec, owner)
			return nil
		}
		kept := n.Access[:0]
		for _, r := range n.Access {
			if (m["node"] == "" || r.Node == rule.Node) && (m["spec"] == "" || r.Spec == spec) {
				continue
			}
			kept = append(kept, r)
		}
		n.Access = kept
		return nil
	})
}

func (a *admin) queryObjects(args []string) error {
	m, _ := kv(args)
	return a.s.View(func(st *store.State) error {
		objs := append([]*store.Object(nil), st.Objects...)
		sort.SliceStable(objs, func(i, j int) bool { return objs[i].ID < objs[j].ID })
		_, _ = fmt.Fprintf(a.out, "%-6s %-16s %-5s %-3s %15s %15s %-25s %s\n", "ID", "Node", "Type", "A/I", "Size", "Stored", "Backup Time", "Name")
		for _, o := range objs {
			if m["node"] != "" && !strings.EqualFold(m["node"], o.Node) {
				continue
			}
			if m["type"] != "" && !strings.EqualFold(m["type"], o.Type) {
				continue
			}
			stored := int64(0)
			if fi, err := os.Stat(a.s.Path("data/" + o.Data)); err == nil {
				stored = allocated(fi)
			}
			_, _ = fmt.Fprintf(a.out, "%-6d %-16s %-5s %-3s %15d %15d %-25s %s\n", o.ID, o.Node, o.Type, activeFlag(o), o.Size, stored, o.BackupTime.Format(time.RFC3339), o.Name)
		}
		return nil
	})
}

// damageObject flips one byte of the stored data of an object's active version, the way a bad
// disk in a storage pool would, without telling anyone: the server and the client still report
// a good backup. Tests use it to show that only the driver's own digest finds such damage
// (assumed: a real server with data validation off returns the damaged bytes as stored).
func (a *admin) damageObject(args []string) error {
	m, pos := kv(args)
	if len(pos) != 1 || m["offset"] == "" {
		return errUsage
	}
	off, err := strconv.ParseInt(m["offset"], 10, 64)
	if err != nil || off < 0 {
		return adminFail("offset must be a byte offset, not %q", m["offset"])
	}
	var data string
	err = a.s.View(func(st *store.State) error {
		for _, o := range st.Objects {
			if o.Name != pos[0] || !o.Active || (m["node"] != "" && !strings.EqualFold(m["node"], o.Node)) ||
				(m["type"] != "" && !strings.EqualFold(m["type"], o.Type)) {
				continue
			}
			if data != "" {
				return adminFail("more than one active object is named %s: give node= or type=", pos[0])
			}
			if off >= o.Size {
				return adminFail("offset %d is beyond the %d bytes of %s", off, o.Size, pos[0])
			}
			data = o.Data
		}
		if data == "" {
			return adminFail("no active object is named %s", pos[0])
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.s.WithFileLocked(func() error {
		f, err := os.OpenFile(a.s.Path("data/"+data), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(a.out, "Byte %d of %s damaged.\n", off, pos[0])
		return f.Sync()
	})
}

// seedObjects stores the objects named on stdin ("NAME SIZE" per line) as new active versions
// holding zeros, in one update of the server. It has no counterpart on a real server, where
// objects come only from clients; it lets a test or a benchmark start from thousands of
// backups without running the client thousands of times.
func (a *admin) seedObjects(args []string) error {
	m, pos := kv(args)
	if len(pos) > 0 || m["node"] == "" {
		return errUsage
	}
	node := strings.ToUpper(m["node"])
	var typ string
	switch strings.ToLower(m["type"]) {
	case "image":
		typ = store.TypeImage
	case "file":
		typ = store.TypeFile
	default:
		return errUsage
	}
	class := m["mgmtclass"]
	if class == "" {
		class = "DEFAULT"
	}
	now := time.Now()
	var objs []*store.Object
	sc := bufio.NewScanner(a.in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 || !strings.HasPrefix(fields[0], "/") || absName(fields[0]) != fields[0] {
			return adminFail("line %d: want an absolute, clean NAME and a SIZE, got %q", line, sc.Text())
		}
		size, err := parseBytes(fields[1])
		if err != nil {
			return adminFail("line %d: %v", line, err)
		}
		o := &store.Object{Node: node, Type: typ, Name: fields[0], Size: size, MgmtClass: class, BackupTime: now, Owner: "root"}
		if typ == store.TypeImage {
			o.Filespace, o.FSType = o.Name, "RAW"
		} else {
			o.Filespace, o.FSType = filespaceOf(o.Name)
			o.Mode, o.ModTime, o.AccessTime, o.ChangeTime = 0o600, now, now, now
		}
		objs = append(objs, o)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	err := a.s.Seed(objs)
	if err == nil {
		_, _ = fmt.Fprintf(a.out, "%d objects stored for node %s.\n", len(objs), node)
	}
	return err
}

func (a *admin) fault(args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	path := a.s.Path(store.FaultFile)
	switch strings.ToLower(args[0]) {
	case "add":
		spec := strings.Join(args[1:], " ")
		if _, err := parseFault(spec); err != nil {
			return adminFail("%v", err)
		}
		return a.s.WithFileLocked(func() error {
			b, _ := os.ReadFile(path)
			text := string(b)
			if text != "" && !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			return a.s.WriteFileAtomic(store.FaultFile, []byte(text+spec+"\n"))
		})
	case "list":
		b, _ := os.ReadFile(path)
		_, err := a.out.Write(b)
		return err
	case "clear":
		return a.s.WithFileLocked(func() error {
			err := os.Remove(path)
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		})
	case "reset":
		return a.s.Update(func(st *store.State) error {
			st.FaultUses = map[string]int{}
			return nil
		})
	}
	return errUsage
}
