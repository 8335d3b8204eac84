package main

import (
	"regexp"
	"strings"
	"testing"
)

// Expectations in this file are copied from the real outputs in the project's
// reference samples (file names given), not derived from any parser.

const dt3 = `\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`
const dt1 = `\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}`

func lines(s string) []string { return strings.Split(s, "\n") }

func TestBannerVariants(t *testing.T) {
	tests := []struct {
		version string
		args    []string
		want    []string // literal lines; "~" prefix = regular expression
	}{
		{ // sample 03 (8.1.23): trailing blanks after "Level 23.0" and "Reserved."
			version: "", args: []string{"q", "sess", "-dateformat=3", "-timeformat=1"},
			want: []string{"IBM Storage Protect", "Command Line Backup-Archive Client Interface",
				"  Client Version 8, Release 1, Level 23.0 ", "~^  Client date/time: " + dt3 + "$",
				"(c) Copyright by IBM Corporation and other(s) 1990, 2024. All Rights Reserved. ", ""},
		},
		{ // sample 04 (7.1.4)
			version: "7.1", args: []string{"q", "sess"},
			want: []string{"IBM Tivoli Storage Manager", "Command Line Backup-Archive Client Interface",
				"  Client Version 7, Release 1, Level 4.0", "~^  Client date/time: " + dt1 + "$",
				"(c) Copyright by IBM Corporation and other(s) 1990, 2015. All Rights Reserved.", ""},
		},
		{ // sample 02 (8.1.6)
			version: "8.1.6", args: []string{"q", "sess"},
			want: []string{"IBM Spectrum Protect", "Command Line Backup-Archive Client Interface",
				"  Client Version 8, Release 1, Level 6.0", "~^  Client date/time: " + dt1 + "$",
				"(c) Copyright by IBM Corporation and other(s) 1990, 2018. All Rights Reserved.", ""},
		},
		{ // sample 11 part B (8.1.15.2)
			version: "8.1.15", args: []string{"q", "sess", "-dateformat=3"},
			want: []string{"IBM Spectrum Protect", "Command Line Backup-Archive Client Interface",
				"  Client Version 8, Release 1, Level 15.2 ", "~^  Client date/time: " + dt3 + "$",
				"(c) Copyright by IBM Corporation and other(s) 1990, 2022. All Rights Reserved. ", ""},
		},
	}
	for _, tc := range tests {
		t.Run("version="+tc.version, func(t *testing.T) {
			s := newSim(t)
			s.env["DSMSIM_VERSION"] = tc.version
			r := s.must(0, tc.args...)
			ls := lines(r.stdout)
			if len(ls) < len(tc.want) {
				t.Fatalf("short output\n%s", r)
			}
			for i, w := range tc.want {
				matchLine(t, ls[i], w)
			}
			// Session block of samples 02/03: node, server, version, date/time, blank.
			matchLine(t, ls[6], "Node Name: NODEA")
			matchLine(t, ls[7], "~^Session established with server DSMSIM: Linux/x86_64$")
			matchLine(t, ls[8], `~^  Server Version 8, Release 1, Level \d+\.\d{3}$`)
			matchLine(t, ls[9], `~^  Server date/time: (`+dt1+`|`+dt3+`)  Last access: (`+dt1+`|`+dt3+`)$`)
			matchLine(t, ls[10], "")
		})
	}
}

func matchLine(t *testing.T, got, want string) {
	t.Helper()
	if strings.HasPrefix(want, "~") {
		if !regexp.MustCompile(want[1:]).MatchString(got) {
			t.Fatalf("line %q does not match %s", got, want[1:])
		}
		return
	}
	if got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
}

// backupLabels and restoreLabels are the statistics blocks of sample 06, in order.
var backupLabels = []string{
	"Total number of objects inspected:", "Total number of objects backed up:", "Total number of objects updated:",
	"Total number of objects rebound:", "Total number of objects deleted:", "Total number of objects expired:",
	"Total number of objects failed:", "Total number of objects encrypted:", "Total number of objects grew:",
	"Total number of retries:", "Total number of bytes inspected:", "Total number of bytes transferred:",
	"Data transfer time:", "Network data transfer rate:", "Aggregate data transfer rate:",
	"Objects compressed by:", "Total data reduction ratio:", "Elapsed processing time:",
}
var restoreLabels = []string{
	"Total number of objects restored:", "Total number of objects failed:", "Total number of bytes transferred:",
	"Data transfer time:", "Network data transfer rate:", "Aggregate data transfer rate:", "Elapsed processing time:",
}

// statsShape checks a statistics block: labels in order, each value ending in
// column 46 followed only by its unit, as in sample 06.
func statsShape(t *testing.T, out string, labels []string) {
	t.Helper()
	valueRE := regexp.MustCompile(`^ +(\d{1,3}(,\d{3})*(\.\d\d)?|\d\d:\d\d:\d\d)(  B| KB| MB| GB| sec| KB/sec|%)?$`)
	ls := lines(out)
	start := -1
	for i, l := range ls {
		if strings.HasPrefix(l, labels[0]) {
			start = i
			break
		}
	}
	if start < 0 || start+len(labels) > len(ls) {
		t.Fatalf("no statistics block in\n%s", out)
	}
	for i, label := range labels {
		l := ls[start+i]
		if !strings.HasPrefix(l, label) {
			t.Fatalf("line %d of the block is %q, want label %q", i, l, label)
		}
		rest := l[len(label):]
		if !valueRE.MatchString(rest) {
			t.Fatalf("value of %q malformed: %q", label, rest)
		}
		num := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(l, " KB/sec"), " sec"), "%"), " B"), " KB"), " ")
		if len(num) != 46 { // sample 06: every value ends in column 46
			t.Fatalf("value of %q ends in column %d, want 46: %q", label, len(num), l)
		}
	}
}

func TestStatisticsAndProgressLinesMatchSample06(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	// 453,246 bytes: the size of the file in sample 06.
	f := writeFile(t, dir, "list", pattern(453246, 6))
	r := s.must(0, "sel", f)
	for _, want := range []string{
		"Selective Backup function invoked.\n\nNormal File-->       453,246 " + f + " [Sent]\n" +
			"Selective Backup processing of '" + f + "' finished without failure.\n\n",
		"Total number of objects inspected:           1\n",
		"Total number of objects backed up:           1\n",
		"Total number of objects failed:              0\n",
		"Total number of bytes inspected:        442.62 KB\n",
		"Objects compressed by:                       0%\n",
		"Total data reduction ratio:               0.00%\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("missing %q in\n%s", want, r.stdout)
		}
	}
	statsShape(t, r.stdout, backupLabels)

	r = s.must(0, "restore", f, dir+"/copy", "-replace=yes")
	for _, want := range []string{
		"Restore function invoked.\n\nRestoring    453,246 " + f + " --> " + dir + "/copy" + " [Done]\n\nRestore processing finished.\n\n",
		"Total number of objects restored:            1\n",
		"Total number of objects failed:              0\n",
		"Total number of bytes transferred:      442.62 KB\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("missing %q in\n%s", want, r.stdout)
		}
	}
	statsShape(t, r.stdout, restoreLabels)
}

func TestQueryLayouts(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "snap-1", pattern(19251200, 1))
	s.must(0, "sel", f)

	// Samples 09/10 (column header) with the 8.x unit column of sample 04.
	r := s.must(0, "q", "ba", dir+"/snap-*", "-dateformat=3", "-timeformat=1")
	ls := lines(r.stdout)
	hdr := indexOf(ls, "             Size      Backup Date        Mgmt Class A/I File")
	if hdr < 0 || ls[hdr+1] != "             ----      -----------        ---------- --- ----" {
		t.Fatalf("query backup header missing\n%s", r.stdout)
	}
	row := ls[hdr+2]
	matchLine(t, row, `~^    19,251,200  B  `+dt3+`    DEFAULT     A  `+regexp.QuoteMeta(f)+`$`)
	if strings.Index(row, "B  ") != strings.Index(ls[hdr], "Size")+3 || strings.Index(row, "/") != strings.Index(ls[hdr], "File") {
		t.Fatalf("row not aligned with header:\n%s\n%s", ls[hdr], row)
	}

	// Sample 02 (query session), label by label.
	r = s.must(0, "q", "sess")
	want := []string{"IBM Storage Protect Server Connection Information", "",
		"~^Home Server Name\\.{8}: DSMSIM$", "Server Type.............: Linux/x86_64", "Archive Retain Protect..: \"No\"",
		"~^Server Version\\.{10}: Ver\\. 8, Rel\\. 1, Lev\\. \\d+\\.0$", "~^Last Access Date\\.{8}: " + dt1 + "$",
		"Delete Backup Files.....: \"Yes\"", "Delete Archive Files....: \"Yes\"", "Deduplication...........: \"Server Only\"", "",
		"Node Name...............: NODEA", "~^User Name\\.{15}: \\S+$", "", "~^SSL Information\\.{9}: ", "",
		"Secondary Server Information", "Not configured for failover", ""}
	ls = lines(r.stdout)
	i := indexOf(ls, want[0])
	if i < 0 || len(ls) < i+len(want) {
		t.Fatalf("no connection information block\n%s", r.stdout)
	}
	for j, w := range want {
		matchLine(t, ls[i+j], w)
	}

	// Sample 03 (query filespace).
	r = s.must(0, "q", "fi", "-dateformat=3")
	ls = lines(r.stdout)
	i = indexOf(ls, "  #     Last Incr Date          Type    File Space Name")
	if i < 0 || ls[i+1] != strings.Repeat("-", 80) {
		t.Fatalf("no filespace header\n%s", r.stdout)
	}
	matchLine(t, ls[i+2], `~^  1     `+dt3+`     \S+ *\S+ *$`)
}

func indexOf(ls []string, want string) int {
	for i, l := range ls {
		if l == want {
			return i
		}
	}
	return -1
}

func TestAbbreviationsEndToEnd(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "a", []byte("alpha"))
	tests := []struct {
		args   []string
		rc     int
		stdout string // must appear
		stderr string
	}{
		{args: []string{"SEL", f}, rc: 0, stdout: "Selective Backup function invoked."},
		{args: []string{"backup", f, "-compression=yes"}, rc: 0, stdout: "Normal File-->"},
		{args: []string{"q", "sess", "-se=anything"}, rc: 0, stdout: "Server Connection Information"},
		{args: []string{"Q", "SE", "-SER=anything"}, rc: 0, stdout: "Server Connection Information"},
		{args: []string{"q", "ba", f, "-inact"}, rc: 0, stdout: " A  " + f},
		{args: []string{"q", "ba", "-detail", f}, rc: 0, stdout: "Modified: "},
		{args: []string{"res", f, dir + "/b", "-rep=yes"}, rc: 0, stdout: "Restore function invoked."},
		{args: []string{"del", "ba", f, "-nop", "-delt=inactive"}, rc: 0, stdout: "Total number of objects deleted:             1"},
		{args: []string{"del", "ba", f, "-nop", "-objt=file"}, rc: 0, stdout: "Total number of objects deleted:             1"},
		{args: []string{"q", "ba", f}, rc: 8, stderr: "ANS1092W No files matching search criteria were found"},
		{args: []string{"q", "sess", "-nosuchoption=1"}, rc: 12, stdout: "ANS1107E"},
		{args: []string{"q", "ba", f, "-noprompt"}, rc: 12, stdout: "ANS1108E"},
		{args: []string{"q"}, rc: 12, stdout: "ANS1138E"},
		{args: []string{"archive", f}, rc: 12, stderr: "does not implement"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := s.run(tc.args...)
			if r.rc != tc.rc || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want rc %d, stdout %q, stderr %q\n%s", tc.rc, tc.stdout, tc.stderr, r)
			}
		})
	}
}
