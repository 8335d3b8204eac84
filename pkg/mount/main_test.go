package mount

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scratchRoot holds every t.TempDir of this run (TestMain points TMPDIR at
// it), so any loop device or mount the tests leak names a path under it.
var scratchRoot string

// TestMain fails the run when the tests leave a loop device, mount or /dev
// link behind: a leak breaks the next run and the host. Differences in
// losetup -a or /proc/mounts that do not involve this run's scratch root come
// from other processes (for example other packages' tests running in
// parallel under `go test ./...`); they are reported but do not fail the run.
func TestMain(m *testing.M) {
	root, err := os.MkdirTemp("", "mountpkg-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain:", err)
		os.Exit(1)
	}
	scratchRoot = root
	_ = os.Setenv("TMPDIR", root)

	before, err := systemState()
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: record state:", err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := systemState()
	if err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: record state:", err)
		os.Exit(1)
	}

	var leaks, foreign []string
	for _, d := range diffLines(before, after) {
		if strings.Contains(d, root) {
			leaks = append(leaks, d)
		} else {
			foreign = append(foreign, d)
		}
	}
	links, _ := filepath.Glob(filepath.Join("/dev", devLinkPrefix()+"*"))
	for _, l := range links {
		leaks = append(leaks, "left /dev link: "+l)
	}
	if len(foreign) > 0 {
		fmt.Fprintf(os.Stderr, "TestMain: note: changes by other processes during the run:\n  %s\n",
			strings.Join(foreign, "\n  "))
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "TestMain: FAIL: the tests leaked kernel state (scratch root %s kept):\n  %s\n",
			root, strings.Join(leaks, "\n  "))
		os.Exit(1)
	}
	if err := os.RemoveAll(root); err != nil {
		fmt.Fprintln(os.Stderr, "TestMain: remove scratch root:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// systemState is the sorted output of `losetup -a` plus /proc/mounts, each
// line tagged with its source.
func systemState() ([]string, error) {
	var lines []string
	if os.Geteuid() == 0 {
		out, err := exec.Command("losetup", "-a").Output()
		if err != nil {
			return nil, fmt.Errorf("losetup -a: %w", err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				lines = append(lines, "losetup: "+l)
			}
		}
	}
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(mounts)), "\n") {
		lines = append(lines, "mount: "+l)
	}
	slices.Sort(lines)
	return lines, nil
}

// diffLines returns the lines only in a ("-") or only in b ("+"), counting
// duplicates (stacked identical mounts).
func diffLines(a, b []string) []string {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
	}
	var out []string
	for l, n := range count {
		for ; n > 0; n-- {
			out = append(out, "- "+l)
		}
		for ; n < 0; n++ {
			out = append(out, "+ "+l)
		}
	}
	slices.Sort(out)
	return out
}
