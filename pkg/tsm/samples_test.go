package tsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata/NN-*.txt are verbatim copies of the captured dsmc
// outputs in the project's reference notes, each starting with its
// "# source:" line. What the tests strip, and why, is done here rather than
// in the files:
//   - lines that start with "#" in column 0 are the collector's annotations
//     (source notes, "# (pick window rows abridged ...)"); dsmc never prints
//     a line starting with "#" in column 0 (the "#" column headers of
//     query filespace are indented);
//   - samples 05 (4 spaces) and 06 (3 spaces) are indented by the markdown
//     they were copied from; the sample headers say so;
//   - files holding several runs are cut into one segment per run.

func readSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stripAnnotations removes the collector's "#" lines.
func stripAnnotations(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// dedent removes up to n leading spaces from every line.
func dedent(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		k := 0
		for k < n && k < len(l) && l[k] == ' ' {
			k++
		}
		lines[i] = l[k:]
	}
	return strings.Join(lines, "\n")
}

// segment is one run inside a sample file: the line that introduces it
// (a shell or tsm> prompt, a "===" title) and what follows up to the next.
type segment struct {
	header, body string
}

func split(s string, isHeader func(string) bool) []segment {
	var segs []segment
	cur := -1
	var body []string
	flush := func() {
		if cur >= 0 {
			segs[cur].body = strings.Join(body, "\n")
		}
	}
	for _, l := range strings.Split(s, "\n") {
		if isHeader(l) {
			flush()
			segs = append(segs, segment{header: l})
			cur = len(segs) - 1
			body = nil
			continue
		}
		body = append(body, l)
	}
	flush()
	return segs
}

// sampleSegment returns the body of the segment whose header contains key.
func sampleSegment(t testing.TB, segs []segment, key string) string {
	t.Helper()
	for _, s := range segs {
		if strings.Contains(s.header, key) {
			return s.body
		}
	}
	t.Fatalf("no segment with header containing %q", key)
	return ""
}

// Sample accessors, one per file that holds several runs.

func sample06(t testing.TB, key string) string {
	s := dedent(stripAnnotations(readSample(t, "06-restore-and-selective-8.1.7-storage-scale.txt")), 3)
	return sampleSegment(t, split(s, func(l string) bool { return strings.HasPrefix(l, "[root@") }), key)
}

// sample05 returns the output of the tsm> command that is exactly cmd.
func sample05(t testing.TB, cmd string) string {
	t.Helper()
	s := dedent(stripAnnotations(readSample(t, "05-query-backup-oxford-style-ddmmyyyy.txt")), 4)
	for _, seg := range split(s, func(l string) bool { return strings.HasPrefix(l, "tsm>") }) {
		if seg.header == "tsm> "+cmd {
			return seg.body
		}
	}
	t.Fatalf("sample 05 has no command %q", cmd)
	return ""
}

func sample05Banner(t testing.TB) string {
	s := dedent(stripAnnotations(readSample(t, "05-query-backup-oxford-style-ddmmyyyy.txt")), 4)
	before, _, _ := strings.Cut(s, "tsm>")
	return before
}

func sample10(t testing.TB, part int) string {
	s := stripAnnotations(readSample(t, "10-query-backup-tsm4.2-and-ANS1092E.txt"))
	segs := split(s, func(l string) bool { return l == "Tivoli Storage Manager" })
	if part >= len(segs) {
		t.Fatalf("sample 10 has %d runs", len(segs))
	}
	return segs[part].header + "\n" + segs[part].body
}

func sample11(t testing.TB, part string) string {
	s := readSample(t, "11-first-login-prompts-and-ANS1051I.txt")
	segs := split(s, func(l string) bool { return strings.HasPrefix(l, "# source (part ") })
	return sampleSegment(t, segs, "(part "+part+")")
}

func sample17(t testing.TB, key string) string {
	s := stripAnnotations(readSample(t, "17-cinder-simulator-FAKE-outputs.txt"))
	return sampleSegment(t, split(s, func(l string) bool { return strings.HasPrefix(l, "=== ") }), key)
}

func sampleWhole(t testing.TB, name string) string {
	return stripAnnotations(readSample(t, name))
}

func TestSampleSegmentsAreFound(t *testing.T) {
	// Guards the accessors: a segment that silently came out empty would
	// make the parser tests below vacuous.
	for name, body := range map[string]string{
		"06 restore":        sample06(t, "dsmc restore /ibm/gpfs0/ /ibm/gpfsl/"),
		"06 selective":      sample06(t, "dsmc sel "),
		"06 restore asnode": sample06(t, "-asnodename"),
		"05 q ba":           sample05(t, "q ba /home/ians/projects"),
		"05 q ba inactive":  sample05(t, "q ba /home/ians/projects/* -subdir=yes -inactive"),
		"05 pick":           sample05(t, "rest /home/ians/projects/*  /tmp/restore/ -su=yes  -inactive -pick"),
		"10 part 0":         sample10(t, 0),
		"10 part 1":         sample10(t, 1),
		"11 A":              sample11(t, "A"),
		"11 B":              sample11(t, "B"),
		"11 C":              sample11(t, "C"),
		"17 backup ok":      sample17(t, "backup (success"),
	} {
		if len(strings.TrimSpace(body)) < 20 {
			t.Errorf("%s: segment is empty: %q", name, body)
		}
	}
}
