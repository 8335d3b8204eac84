package harness

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// KernelState is the part of the machine that tests must leave as they found it.
type KernelState struct {
	Loops  []string
	Mounts []string
	Links  []string
}

// Snapshot records the loop devices and mounts that mention scope (a test's temporary
// directory; "" for all of them), and the entries of /dev whose names start with linkPrefix.
func Snapshot(scope, linkPrefix string) (KernelState, error) {
	var s KernelState
	out, err := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output()
	if err != nil {
		return s, fmt.Errorf("losetup: %w", err)
	}
	s.Loops = lines(string(out), scope)
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return s, err
	}
	s.Mounts = lines(string(mounts), scope)
	if linkPrefix != "" {
		entries, err := os.ReadDir("/dev")
		if err != nil {
			return s, err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), linkPrefix) {
				s.Links = append(s.Links, e.Name())
			}
		}
	}
	return s, nil
}

func lines(s, scope string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && strings.Contains(l, scope) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// Diff describes what after has that before had not.
func (before KernelState) Diff(after KernelState) string {
	var b strings.Builder
	for _, c := range []struct {
		what       string
		old, young []string
	}{{"loop device", before.Loops, after.Loops}, {"mount", before.Mounts, after.Mounts}, {"link", before.Links, after.Links}} {
		had := map[string]bool{}
		for _, x := range c.old {
			had[x] = true
		}
		for _, x := range c.young {
			if !had[x] {
				fmt.Fprintf(&b, "leaked %s: %s\n", c.what, x)
			}
		}
	}
	return b.String()
}
