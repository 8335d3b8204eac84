package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentClients runs several client processes against one server
// directory at once: slow uploads of different objects overlap in time, and
// quick backups of the same object race for the active version.
func TestConcurrentClients(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a", pattern(2<<20, 1))
	b := writeFile(t, dir, "b", pattern(2<<20, 2))
	// Two uploads paced at 1 MiB/s take about two seconds each; both must
	// be in flight together (two temporary files) and both must land.
	slow := runOpts{env: map[string]string{"DSMSIM_FAULT": "slow,rate=1M"}}
	pa := s.start(slow, "sel", a)
	pb := s.start(runOpts{env: map[string]string{"DSMSIM_FAULT": "slow,rate=1M", "DSMSIM_NODE": "NODEB"}}, "sel", b)
	eventually(t, 10*time.Second, "two uploads in flight", func() bool { return len(s.tmpFiles()) == 2 })
	for _, p := range []*bgProc{pa, pb} {
		if r := p.wait(t, 30*time.Second); r.rc != 0 {
			t.Fatalf("concurrent backup failed\n%s", r)
		}
	}
	if !s.hasVersion(a) {
		t.Fatal("object a missing")
	}
	s.env["DSMSIM_NODE"] = "NODEB"
	if !s.hasVersion(b) {
		t.Fatal("object b missing")
	}
	s.env["DSMSIM_NODE"] = "NODEA"

	// Eight processes, four names, two backups of each name at once.
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	names := make([]string, 4)
	for i := range names {
		names[i] = writeFile(t, dir, fmt.Sprintf("c%d", i), pattern(256<<10, byte(10+i)))
	}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if r := s.run("sel", name); r.rc != 0 {
				errs <- r.String()
			}
		}(names[i%4])
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("parallel backup failed\n%s", e)
	}
	r := s.must(0, "q", "ba", "-inactive", filepath.Join(dir, "c*"))
	for _, n := range names {
		if got := strings.Join(queryFlags(r.stdout, n), ""); got != "AI" {
			t.Fatalf("%s has versions %q, want one active and one inactive\n%s", n, got, r)
		}
	}
}
