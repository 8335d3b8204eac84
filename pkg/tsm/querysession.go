package tsm

import (
	"errors"
	"regexp"
	"strings"
)

// Session is what `dsmc query session` reports about the server connection.
type Session struct {
	// Server is the "Home Server Name", else the server named in the
	// "Session established with server" banner line.
	Server        string
	ServerType    string // e.g. "Linux/x86_64"
	ServerVersion string // as printed, e.g. "Ver. 8, Rel. 1, Lev. 4.0"
	Node          string // the node dsmc logged in as
	User          string
	AccessingAs   string // the -asnodename target, when dsmc reports one
	// DeleteBackupAllowed is true only when the server says "Yes" (the node
	// has BACKDELETE authority); deletes fail otherwise.
	DeleteBackupAllowed bool
}

var (
	// "Home Server Name........: SERVER_A" - label, a run of dots, colon.
	dottedRe = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z /()-]*?)\s*\.{2,}\s*:\s*(.*)$`)
	// "Session established with server CLOUDTSM1: Linux/x86_64"
	establishedRe = regexp.MustCompile(`^\s*Session established with server\s+(\S+?):\s*(.*)$`)
	// "  Server Version 8, Release 1, Level 4.000"
	bannerVersionRe = regexp.MustCompile(`^\s*Server Version\s+(\d.*)$`)
	nodeNameRe      = regexp.MustCompile(`^\s*Node Name:\s*(\S+)`)
	accessingRe     = regexp.MustCompile(`^\s*Accessing as node:\s*(\S+)`)
)

var errNoSession = errors.New("no session information in dsmc output")

// ParseQuerySession reads the banner and the key/value block of `dsmc query
// session`. Values of the block win over the banner. It fails only when it
// finds neither a node nor a server name.
func ParseQuerySession(out string) (*Session, error) {
	s := &Session{}
	var bannerServer, bannerType, bannerVersion, bannerNode string
	for _, line := range splitLines(out) {
		if m := dottedRe.FindStringSubmatch(line); m != nil {
			v := unquote(strings.TrimSpace(m[2]))
			switch normLabel(m[1]) {
			case "home server name":
				s.Server = v
			case "server type":
				s.ServerType = v
			case "server version":
				s.ServerVersion = v
			case "node name":
				s.Node = v
			case "user name":
				s.User = v
			case "delete backup files":
				s.DeleteBackupAllowed = strings.EqualFold(v, "yes")
			}
			continue
		}
		if m := establishedRe.FindStringSubmatch(line); m != nil && bannerServer == "" {
			bannerServer, bannerType = m[1], strings.TrimSpace(m[2])
			continue
		}
		if m := bannerVersionRe.FindStringSubmatch(line); m != nil && bannerVersion == "" {
			bannerVersion = strings.TrimSpace(m[1])
			continue
		}
		if m := nodeNameRe.FindStringSubmatch(line); m != nil && bannerNode == "" {
			bannerNode = m[1]
			continue
		}
		if m := accessingRe.FindStringSubmatch(line); m != nil {
			s.AccessingAs = m[1]
		}
	}
	s.Server = firstNonEmpty(s.Server, bannerServer)
	s.ServerType = firstNonEmpty(s.ServerType, bannerType)
	s.ServerVersion = firstNonEmpty(s.ServerVersion, bannerVersion)
	s.Node = firstNonEmpty(s.Node, bannerNode)
	if s.Server == "" && s.Node == "" {
		return nil, errNoSession
	}
	return s, nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
