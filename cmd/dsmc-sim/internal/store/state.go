// Package store keeps the simulated server's state in a directory: node
// registrations, authorisations and backup versions in one JSON document guarded
// by an flock, object data in sparse files that only become visible by rename.
package store

import (
	"sort"
	"strings"
	"time"
)

// Object types as the server distinguishes them.
const (
	TypeImage = "IMAGE"
	TypeFile  = "FILE"
)

// Password access modes of a node.
const (
	AccessGenerate = "generate"
	AccessPrompt   = "prompt"
)

// State is the whole server.
type State struct {
	ServerName string           `json:"serverName"`
	NextID     uint64           `json:"nextID"`
	Nodes      map[string]*Node `json:"nodes"`
	Objects    []*Object        `json:"objects"`
	// FaultUses counts how often each fault given through the environment fired,
	// keyed by its spec text, so that count=N holds across processes.
	FaultUses map[string]int `json:"faultUses,omitempty"`
}

// Node is a registered client node.
type Node struct {
	Name           string       `json:"name"`
	Password       string       `json:"password"`
	PasswordAccess string       `json:"passwordAccess"`
	BackDelete     bool         `json:"backDelete"`
	ProxyAgents    []string     `json:"proxyAgents,omitempty"` // agents that may act as this node
	Access         []AccessRule `json:"access,omitempty"`      // set access rules this node granted
	Registered     time.Time    `json:"registered"`            // the last access is kept apart: Store.LastAccess
}

// AccessRule is one "set access" entry of an owner node.
type AccessRule struct {
	Type string `json:"type"` // BACKUP
	Spec string `json:"spec"` // object name pattern
	Node string `json:"node"` // node allowed (or *)
	User string `json:"user"` // user allowed (or *)
}

// Object is one backup version.
type Object struct {
	ID          uint64    `json:"id"`
	Node        string    `json:"node"`
	Type        string    `json:"type"`
	Name        string    `json:"name"`
	Filespace   string    `json:"filespace"`
	FSType      string    `json:"fsType"`
	Size        int64     `json:"size"`
	DataBytes   int64     `json:"dataBytes"`
	Compressed  bool      `json:"compressed"`
	MgmtClass   string    `json:"mgmtClass"`
	BackupTime  time.Time `json:"backupTime"`
	Active      bool      `json:"active"`
	Deactivated time.Time `json:"deactivated,omitzero"`
	Mode        uint32    `json:"mode,omitempty"`
	UID         int       `json:"uid,omitempty"`
	GID         int       `json:"gid,omitempty"`
	ModTime     time.Time `json:"modTime,omitzero"`
	AccessTime  time.Time `json:"accessTime,omitzero"`
	ChangeTime  time.Time `json:"changeTime,omitzero"`
	Owner       string    `json:"owner,omitempty"`
	Data        string    `json:"data"` // file name under data/
}

// Node returns the registration of name (upper-cased), or nil.
func (s *State) Node(name string) *Node {
	return s.Nodes[strings.ToUpper(name)]
}

// EnsureNode auto-registers a node on first use the way the contract asks for:
// passwordaccess generate and delete authority, so a bare directory works.
func (s *State) EnsureNode(name string, now time.Time) *Node {
	name = strings.ToUpper(name)
	if n := s.Nodes[name]; n != nil {
		return n
	}
	n := &Node{Name: name, PasswordAccess: AccessGenerate, BackDelete: true, Registered: now}
	s.Nodes[name] = n
	return n
}

// HasProxyAgent reports whether agent may act as n.
func (n *Node) HasProxyAgent(agent string) bool {
	for _, a := range n.ProxyAgents {
		if strings.EqualFold(a, agent) {
			return true
		}
	}
	return false
}

// SortNewestFirst orders versions by backup time, newest first (ID breaks ties).
func SortNewestFirst(objs []*Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		if !objs[i].BackupTime.Equal(objs[j].BackupTime) {
			return objs[i].BackupTime.After(objs[j].BackupTime)
		}
		return objs[i].ID > objs[j].ID
	})
}

// AddVersion stores a new active version and deactivates the previous active one
// of the same object, as a new backup does on a real server.
func (s *State) AddVersion(o *Object, now time.Time) {
	for _, old := range s.Objects {
		if old.Active && old.Node == o.Node && old.Type == o.Type && old.Name == o.Name {
			old.Active = false
			old.Deactivated = now
		}
	}
	s.NextID++
	o.ID = s.NextID
	o.Active = true
	s.Objects = append(s.Objects, o)
}

// AddVersions is AddVersion for many objects in one pass over the versions held, so that
// seeding a server with thousands of objects does not cost a scan per object. Objects later
// in objs supersede earlier ones of the same name.
func (s *State) AddVersions(objs []*Object, now time.Time) {
	type key struct{ node, typ, name string }
	active := make(map[key]*Object, len(s.Objects))
	for _, o := range s.Objects {
		if o.Active {
			active[key{o.Node, o.Type, o.Name}] = o
		}
	}
	for _, o := range objs {
		k := key{o.Node, o.Type, o.Name}
		if old := active[k]; old != nil {
			old.Active = false
			old.Deactivated = now
		}
		s.NextID++
		o.ID = s.NextID
		o.Active = true
		active[k] = o
		s.Objects = append(s.Objects, o)
	}
}

// Remove drops the given versions and returns the names of their data files.
func (s *State) Remove(drop []*Object) []string {
	set := make(map[uint64]bool, len(drop))
	for _, o := range drop {
		set[o.ID] = true
	}
	var data []string
	kept := s.Objects[:0]
	for _, o := range s.Objects {
		if set[o.ID] {
			data = append(data, o.Data)
			continue
		}
		kept = append(kept, o)
	}
	for i := len(kept); i < len(s.Objects); i++ {
		s.Objects[i] = nil
	}
	s.Objects = kept
	return data
}

// Promote makes the newest remaining version of an object active when none is,
// as the server does after the active version was deleted.
func (s *State) Promote(node, typ, name string) {
	var versions []*Object
	for _, o := range s.Objects {
		if o.Node == node && o.Type == typ && o.Name == name {
			if o.Active {
				return
			}
			versions = append(versions, o)
		}
	}
	if len(versions) == 0 {
		return
	}
	SortNewestFirst(versions)
	versions[0].Active = true
	versions[0].Deactivated = time.Time{}
}
