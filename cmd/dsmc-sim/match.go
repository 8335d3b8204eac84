package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// hasWildcard tells whether a file spec uses dsmc's * or ? wildcards.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// globMatch matches name against a dsmc file spec. * and ? stay within one
// path element unless crossDirs is set (-subdir=yes lets the last element's
// wildcard match below the directory).
func globMatch(pattern, name string, crossDirs bool) bool {
	var p, n int
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '?' && (crossDirs || name[n] != '/'):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0 && (crossDirs || name[mark] != '/'):
			mark++
			n = mark
			p = star + 1
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// specMatcher turns a query/restore/delete spec into a matcher: a trailing
// slash means every file in the directory, wildcards follow globMatch, and a
// plain name must match exactly (or, with -subdir=yes, also names below it).
func specMatcher(spec string, subdir bool) func(string) bool {
	if strings.HasSuffix(spec, "/") {
		spec += "*"
	}
	if hasWildcard(spec) {
		return func(n string) bool { return globMatch(spec, n, subdir) }
	}
	return func(n string) bool {
		return n == spec || (subdir && strings.HasPrefix(n, strings.TrimSuffix(spec, "/")+"/"))
	}
}

// accessMatch applies a "set access" spec: wildcards may cross directories, so
// /data/* grants everything below /data.
func accessMatch(spec, name string) bool {
	if strings.HasSuffix(spec, "/") {
		spec += "*"
	}
	return globMatch(spec, name, true)
}

// absName makes a file spec absolute without resolving symbolic links: the
// object name is the path as given.
func absName(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// absSpec is absName for specs that may carry a meaningful trailing slash.
func absSpec(p string) string {
	slash := strings.HasSuffix(p, "/") && len(p) > 1
	a := absName(p)
	if slash && !strings.HasSuffix(a, "/") {
		a += "/"
	}
	return a
}

// filespaceOf returns the mount point holding path and its file system type, as
// the client names file spaces of file backups.
func filespaceOf(path string) (string, string) {
	best, bestType := "/", "UNKNOWN"
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return best, bestType
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bestLen := -1
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		fstype := ""
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) {
				fstype = fields[i+1]
				break
			}
		}
		if mp == "/" || path == mp || strings.HasPrefix(path, mp+"/") {
			if len(mp) >= bestLen {
				best, bestType, bestLen = mp, strings.ToUpper(fstype), len(mp)
			}
		}
	}
	return best, bestType
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for _, d := range s[i+1 : i+4] {
				if d < '0' || d > '7' {
					ok = false
					break
				}
				v = v*8 + int(d-'0')
			}
			if ok {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
