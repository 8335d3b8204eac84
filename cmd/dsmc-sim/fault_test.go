package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmpFiles lists the server's temporary upload files.
func (s *sim) tmpFiles() []string {
	s.t.Helper()
	m, _ := filepath.Glob(filepath.Join(s.root, "tmp", "*.part"))
	return m
}

// hasVersion tells whether any version of name exists on the server.
func (s *sim) hasVersion(name string) bool {
	s.t.Helper()
	r := s.run("q", "ba", "-inactive", name)
	return r.rc == 0 && strings.Contains(r.stdout, name)
}

func TestFaultsOnBackup(t *testing.T) {
	tests := []struct {
		name    string
		fault   string
		rc      int
		signal  syscall.Signal
		want    []string // on stdout
		not     []string
		tmpLeft bool // a killed process leaves its temporary file
	}{
		{name: "auth", fault: "auth", rc: 12, want: []string{"Node Name: NODEA\nANS1025E Session rejected: Authentication failure\n"}, not: []string{"Session established"}},
		{name: "connlost", fault: "connlost,after=1M", rc: 12, want: []string{"Selective Backup function invoked.", "ANS1029E Communication with the IBM Storage Protect server is lost."}, not: []string{"Total number of"}},
		{name: "connlost-at-start", fault: "connlost", rc: 12, want: []string{"ANS1029E"}},
		{name: "nospace", fault: "nospace,after=2M", rc: 12, want: []string{"ANS1228E Sending of object", "ANS1311E Server out of data storage space", "Total number of objects backed up:           0", "Total number of objects failed:              1"}},
		{name: "crash-kill", fault: "crash,after=1M", rc: -1, signal: syscall.SIGKILL, want: []string{"Selective Backup function invoked."}, not: []string{"Total number of"}, tmpLeft: true},
		{name: "crash-segv", fault: "crash,after=1M,signal=SEGV", rc: -1, signal: syscall.SIGSEGV, want: []string{"Selective Backup function invoked."}, tmpLeft: true},
		{name: "crash-rc", fault: "crash,rc=3", rc: 3, want: []string{"Session established"}, not: []string{"Selective Backup function invoked."}},
		{name: "other-command", fault: "auth,cmd=restore|delete", rc: 0, want: []string{"Total number of objects backed up:           1"}},
		{name: "other-node", fault: "auth,node=NODEZ", rc: 0, want: []string{"Total number of objects backed up:           1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			f := writeFile(t, t.TempDir(), "vol", pattern(4<<20, 1))
			r := s.runWith(runOpts{env: map[string]string{"DSMSIM_FAULT": tc.fault}}, "sel", f)
			if r.rc != tc.rc || r.signal != tc.signal {
				t.Fatalf("want rc %d signal %v\n%s", tc.rc, tc.signal, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("missing %q\n%s", w, r)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.stdout, w) {
					t.Fatalf("unexpected %q\n%s", w, r)
				}
			}
			if got := len(s.tmpFiles()) > 0; got != tc.tmpLeft {
				t.Fatalf("temporary upload left: %v, want %v", got, tc.tmpLeft)
			}
			if s.hasVersion(f) != (tc.rc == 0) {
				t.Fatalf("version visible = %v after rc %d", !(tc.rc == 0), tc.rc)
			}
		})
	}
}

func TestFaultsOnRestoreAndQuery(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	data := pattern(4<<20, 2)
	f := writeFile(t, dir, "vol", data)
	s.must(0, "sel", f)
	out := filepath.Join(dir, "out")

	r := s.runWith(runOpts{env: map[string]string{"DSMSIM_FAULT": "connlost,after=1M,cmd=restore"}}, "restore", "-replace=yes", f, out)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1029E") {
		t.Fatalf("restore connlost: want ANS1029E rc 12\n%s", r)
	}
	got, _ := os.ReadFile(out)
	if len(got) < 1<<20 || !bytes.Equal(got[:1<<20], data[:1<<20]) || bytes.Equal(got, data) {
		t.Fatalf("restore broken after 1 MiB should leave exactly the first MiB right (got %d bytes)", len(got))
	}

	r = s.runWith(runOpts{env: map[string]string{"DSMSIM_FAULT": "connlost,cmd=query"}}, "q", "ba", f)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1029E") {
		t.Fatalf("query connlost\n%s", r)
	}
	// An offset aims a connlost at transfers: a query is not affected.
	s.mustWith(runOpts{env: map[string]string{"DSMSIM_FAULT": "connlost,after=1M"}}, 0, "q", "ba", f)

	// Sample 13, verbatim apart from the session header.
	r = s.runWith(runOpts{env: map[string]string{"DSMSIM_FAULT": "restartable"}}, "restore", "-replace=yes", f, out)
	want := "Restore function invoked.\n\nANS1247I Waiting for files from the server...\n                                  \n>>>>>> Restore Processing Interrupted!! <<<<<<\nANS1330S This node currently has a pending restartable restore session.\n\nThe requested operation cannot complete until this session either\ncompletes or is canceled.\n"
	if r.rc != 12 || !strings.HasSuffix(r.stdout, want) {
		t.Fatalf("restartable restore: want sample 13 text, rc 12\n%s", r)
	}
}

func TestFaultUseCounts(t *testing.T) {
	s := newSim(t)
	env := runOpts{env: map[string]string{"DSMSIM_FAULT": "auth,count=2"}}
	for i, want := range []int{12, 12, 0, 0} {
		if r := s.runWith(env, "q", "sess"); r.rc != want {
			t.Fatalf("run %d: want rc %d\n%s", i, want, r)
		}
	}
	// The fault file works for processes already configured, and counts down.
	s.admin("fault", "add", "restartable,count=1,cmd=restore")
	f := writeFile(t, t.TempDir(), "f", []byte("x"))
	s.must(0, "sel", f) // not a restore: untouched
	if r := s.run("restore", "-replace=yes", f, f+".out"); r.rc != 12 || !strings.Contains(r.stdout, "ANS1330S") {
		t.Fatalf("first restore must hit the fault\n%s", r)
	}
	s.must(0, "restore", "-replace=yes", f, f+".out")
	if list := s.admin("fault", "list"); strings.TrimSpace(list) != "" {
		t.Fatalf("used-up fault still listed: %q", list)
	}
	// cancel restore clears a pending restartable restore.
	s.admin("fault", "add", "restartable")
	s.must(0, "cancel", "restore")
	s.must(0, "restore", "-replace=yes", f, f+".out")
}

func TestSlowTransferInFlight(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, 0} {
		t.Run(sig.String(), func(t *testing.T) {
			s := newSim(t)
			f := writeFile(t, t.TempDir(), "vol", pattern(3<<20, 3))
			start := time.Now()
			p := s.start(runOpts{env: map[string]string{"DSMSIM_FAULT": "slow,rate=2M"}}, "sel", f)
			p.waitLine(t, "Selective Backup function invoked.", 10*time.Second)
			eventually(t, 10*time.Second, "upload in flight", func() bool {
				for _, m := range s.tmpFiles() {
					if fi, err := os.Stat(m); err == nil && fi.Size() > 0 {
						return true
					}
				}
				return false
			})
			if s.hasVersion(f) {
				t.Fatal("a version is visible while its upload runs")
			}
			if sig == 0 {
				r := p.wait(t, 30*time.Second)
				if r.rc != 0 {
					t.Fatalf("slow backup failed\n%s", r)
				}
				if took := time.Since(start); took < time.Second {
					t.Fatalf("3 MiB at 2 MiB/s took only %v", took)
				}
				if !s.hasVersion(f) || len(s.tmpFiles()) != 0 {
					t.Fatal("finished upload not committed cleanly")
				}
				return
			}
			_ = p.cmd.Process.Signal(sig)
			r := p.wait(t, 10*time.Second)
			if r.signal != sig {
				t.Fatalf("want death by %v\n%s", sig, r)
			}
			if s.hasVersion(f) {
				t.Fatal("an interrupted upload became a version")
			}
			if left := len(s.tmpFiles()); (sig == syscall.SIGTERM) != (left == 0) {
				t.Fatalf("%d temporary files after %v", left, sig)
			}
		})
	}
}

func TestHang(t *testing.T) {
	s := newSim(t)
	f := writeFile(t, t.TempDir(), "vol", pattern(2<<20, 4))
	for _, fault := range []string{"hang", "hang,after=1M"} {
		t.Run(fault, func(t *testing.T) {
			p := s.start(runOpts{env: map[string]string{"DSMSIM_FAULT": fault}}, "sel", f)
			p.waitLine(t, "Session established", 10*time.Second)
			select {
			case <-p.done:
				t.Fatalf("process ended instead of hanging\n%s", p.out.String())
			case <-time.After(300 * time.Millisecond):
			}
			_ = p.cmd.Process.Kill()
			r := p.wait(t, 10*time.Second)
			if r.signal != syscall.SIGKILL {
				t.Fatalf("want SIGKILL\n%s", r)
			}
			if s.hasVersion(f) {
				t.Fatal("hung upload became a version")
			}
		})
	}
}
