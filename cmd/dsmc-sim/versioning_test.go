package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// queryRows returns the "A"/"I" flags of query backup rows for name, in order.
func queryFlags(out, name string) []string {
	re := regexp.MustCompile(`  ([AI])  ` + regexp.QuoteMeta(name) + `$`)
	var flags []string
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			flags = append(flags, m[1])
		}
	}
	return flags
}

func TestVersioning(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "obj", []byte("version one"))
	s.must(0, "sel", f)
	if err := os.WriteFile(f, []byte("version two, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.must(0, "sel", f)

	if got := queryFlags(s.must(0, "q", "ba", f).stdout, f); strings.Join(got, "") != "A" {
		t.Fatalf("active versions %v, want [A]", got)
	}
	if got := queryFlags(s.must(0, "q", "ba", "-inactive", f).stdout, f); strings.Join(got, "") != "AI" {
		t.Fatalf("all versions %v, want [A I]", got)
	}
	out := dir + "/out"
	s.must(0, "restore", "-replace=yes", f, out)
	if b, _ := os.ReadFile(out); string(b) != "version two, longer" {
		t.Fatalf("restore got %q, want the active version", b)
	}

	tests := []struct {
		name    string
		args    []string
		rc      int
		flags   string // remaining versions (query -inactive)
		restore string // content restored without -inactive ("" = nothing)
	}{
		// The newest inactive version is promoted (IBM API, "Deleting
		// objects from the server").
		{name: "delete active promotes", args: []string{"-deltype=active"}, rc: 0, flags: "A", restore: "version one"},
		{name: "delete promoted", args: []string{"-deltype=active"}, rc: 0, flags: "", restore: ""},
		{name: "delete inactive of nothing", args: []string{"-deltype=inactive"}, rc: 12, flags: "", restore: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.run(append([]string{"delete", "backup", "-noprompt", f}, tc.args...)...)
			if r.rc != tc.rc {
				t.Fatalf("want rc %d\n%s", tc.rc, r)
			}
			q := s.run("q", "ba", "-inactive", f)
			if got := strings.Join(queryFlags(q.stdout, f), ""); got != tc.flags {
				t.Fatalf("versions %q, want %q\n%s", got, tc.flags, q)
			}
			rr := s.run("restore", "-replace=yes", f, out)
			if tc.restore == "" && rr.rc != 12 {
				t.Fatalf("restore with no active version: want rc 12 (ANS1302E)\n%s", rr)
			}
			if tc.restore != "" {
				if b, _ := os.ReadFile(out); rr.rc != 0 || string(b) != tc.restore {
					t.Fatalf("restore got %q, want %q\n%s", b, tc.restore, rr)
				}
			}
		})
	}
}

func TestInactiveAndPointInTimeRestore(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "obj", []byte("old"))
	s.must(0, "sel", f)
	// Backup times have second resolution in -pittime; the next backup must
	// land in a later second for the point in time to tell them apart.
	first := time.Now()
	for time.Now().Truncate(time.Second).Equal(first.Truncate(time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(f, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.must(0, "sel", f)
	// Deleting the active version ("new") leaves only the inactive "old".
	s.must(0, "delete", "backup", "-noprompt", f)
	out := dir + "/out"
	// The active version is gone; -inactive restores the newest remaining one.
	s.must(0, "restore", "-inactive", "-replace=yes", f, out)
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("-inactive restored %q, want old", b)
	}
	s.must(0, "sel", f) // "new" again, active
	pit := first.Format("2006-01-02")
	pitTime := first.Format("15:04:05")
	s.must(0, "restore", "-replace=yes", "-dateformat=3", "-pitdate="+pit, "-pittime="+pitTime, f, out)
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("-pitdate restored %q, want old", b)
	}
	s.must(0, "restore", "-replace=yes", f, out)
	if b, _ := os.ReadFile(out); string(b) != "new" {
		t.Fatalf("restore restored %q, want new", b)
	}
}

func TestImageVersioning(t *testing.T) {
	requireRoot(t)
	dev := newLoop(t, 4<<20, func(f *os.File) { writeAt(t, f, 0, pattern(4096, 1)) })
	s := newSim(t)
	s.must(0, "backup", "image", dev)
	s.must(0, "backup", "image", dev)
	r := s.must(0, "q", "image", "-inactive", dev)
	if n := strings.Count(r.stdout, "  A  "+dev) + 10*strings.Count(r.stdout, "  I  "+dev); n != 11 {
		t.Fatalf("want one active and one inactive image\n%s", r)
	}
	r = s.run("delete", "backup", "-noprompt", "-objtype=image", "-deltype=all", dev)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1598E") {
		t.Fatalf("-deltype=all of one name: want ANS1598E rc 12\n%s", r)
	}
	// Inactive first, then active: nothing can be promoted in between.
	for _, dt := range []string{"-deltype=inactive", "-deltype=active"} {
		r = s.must(0, "delete", "backup", "-noprompt", "-objtype=image", dt, dev)
		if v := statValue(r.stdout, "Total number of objects deleted:"); v != "1" {
			t.Fatalf("%s deleted %q\n%s", dt, v, r)
		}
	}
	r = s.run("q", "image", dev)
	if r.rc != 8 || !strings.Contains(r.stderr, "ANS1092W") {
		t.Fatalf("query after delete: want ANS1092W rc 8\n%s", r)
	}
	r = s.run("delete", "backup", "-noprompt", "-objtype=image", dev)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1345E No objects on the server match '"+dev+"'") {
		t.Fatalf("delete of nothing: want ANS1345E rc 12\n%s", r)
	}
}
