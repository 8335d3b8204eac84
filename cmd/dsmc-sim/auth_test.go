package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeleteAuthority(t *testing.T) {
	s := newSim(t)
	f := writeFile(t, t.TempDir(), "f", []byte("data"))
	s.must(0, "sel", f)
	s.admin("update", "node", "NODEA", "backdelete=no")
	r := s.run("delete", "backup", "-noprompt", f)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1126E") {
		t.Fatalf("delete without authority: want ANS1126E rc 12\n%s", r)
	}
	if q := s.must(0, "q", "sess"); !strings.Contains(q.stdout, `Delete Backup Files.....: "No"`) {
		t.Fatalf("query session must show the missing authority (sample 02)\n%s", q)
	}
	s.must(0, "q", "ba", f) // still there
	s.admin("update", "node", "NODEA", "backdelete=yes")
	s.must(0, "delete", "backup", "-noprompt", f)
}

func TestProxyNode(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "f", pattern(10000, 1))
	// Without a grant the target cannot be used.
	r := s.run("sel", "-asnodename=CLUSTER", f)
	if r.rc != 12 || !strings.Contains(r.stdout, "ANS1025E Session rejected: Authentication failure") {
		t.Fatalf("asnodename without grant: want ANS1025E rc 12\n%s", r)
	}
	s.admin("grant", "proxynode", "target=CLUSTER", "agent=NODEA,NODEB")
	r = s.must(0, "sel", "-asnodename=cluster", f)
	if !strings.Contains(r.stdout, "\nNode Name: NODEA\n") || !strings.Contains(r.stdout, "\n\nAccessing as node: CLUSTER\nSelective Backup function invoked.\n") {
		t.Fatalf("proxy session lines (samples 04/06)\n%s", r)
	}
	// The data belongs to the target: invisible to NODEA itself ...
	if r := s.run("q", "ba", f); r.rc != 8 {
		t.Fatalf("agent sees target data without -asnodename\n%s", r)
	}
	// ... and usable by another agent of the same target (restore and delete).
	s.env["DSMSIM_NODE"] = "NODEB"
	out := filepath.Join(dir, "out")
	s.must(0, "restore", "-asnodename=CLUSTER", "-replace=yes", f, out)
	sameContent(t, f, out)
	s.must(0, "delete", "backup", "-asnodename=CLUSTER", "-noprompt", f)
	// A node without the grant is refused even if the target exists.
	s.env["DSMSIM_NODE"] = "NODEC"
	if r := s.run("q", "ba", "-asnodename=CLUSTER", f); r.rc != 12 {
		t.Fatalf("ungranted agent: want rc 12\n%s", r)
	}
}

func TestFromNodeAccess(t *testing.T) {
	s := newSim(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "vol-1", pattern(5000, 2))
	s.must(0, "sel", f)
	s.env["DSMSIM_NODE"] = "NODEB"
	out := filepath.Join(dir, "out")
	tests := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"query", []string{"q", "ba", "-fromnode=NODEA", f}, 8, "ANS1092W"},
		{"restore", []string{"restore", "-fromnode=NODEA", "-replace=yes", f, out}, 12, "ANS1302E"},
	}
	for _, tc := range tests {
		r := s.run(tc.args...)
		if r.rc != tc.rc || !strings.Contains(r.stdout+r.stderr, tc.msg) {
			t.Fatalf("%s without access: want %s rc %d\n%s", tc.name, tc.msg, tc.rc, r)
		}
	}
	// NODEA grants access with "set access" (sample 14).
	s.env["DSMSIM_NODE"] = "NODEA"
	s.must(0, "set", "access", "backup", dir+"/*", "NODEB")
	r := s.must(0, "q", "access")
	if !strings.Contains(r.stdout, "Type     Node        User        Path\n----     ----------------------------\nBackup   NODEB       *           "+dir+"/*\n") {
		t.Fatalf("query access layout (sample 14)\n%s", r)
	}
	s.env["DSMSIM_NODE"] = "NODEB"
	s.must(0, "q", "ba", "-fromnode=NODEA", f)
	s.must(0, "restore", "-fromnode=NODEA", "-replace=yes", f, out)
	sameContent(t, f, out)
	// Read only: -fromnode is not an option of delete backup.
	if r := s.run("delete", "backup", "-noprompt", "-fromnode=NODEA", f); r.rc != 12 || !strings.Contains(r.stdout, "ANS1108E") {
		t.Fatalf("delete with -fromnode: want ANS1108E\n%s", r)
	}
	// Revoking through delete access (answering the index prompt).
	s.env["DSMSIM_NODE"] = "NODEA"
	s.runWith(runOpts{stdin: "1\n"}, "delete", "access")
	if r := s.run("q", "access"); r.rc != 12 || !strings.Contains(r.stdout, "ANS1302E No objects on server match query") {
		t.Fatalf("query access after delete (sample 14)\n%s", r)
	}
}

func TestPasswordPrompts(t *testing.T) {
	s := newSim(t)
	s.admin("register", "node", "NODEA", "s3cret", "passwordaccess=prompt")
	userPrompt := "Please enter your user id <NODEA>: "
	pwPrompt := `Please enter password for user id "NODEA": `
	tests := []struct {
		name  string
		stdin string
		args  []string
		rc    int
		want  []string
		not   []string
	}{
		{name: "eof", stdin: "", rc: 12, want: []string{userPrompt,
			"ANS2050E IBM Storage Protect needs to prompt for the password but cannot prompt because the process is running in the background.",
			"ANS1029E Communication with the IBM Storage Protect server is lost."}, not: []string{"Session established"}},
		{name: "correct", stdin: "\ns3cret\n", rc: 0, want: []string{userPrompt, pwPrompt, "Session established with server"}},
		{name: "wrong-then-eof", stdin: "\nnope\n", rc: 12, want: []string{pwPrompt, "ANS1051I Invalid user id or password", "ANS2050E"}},
		{name: "wrong-then-right", stdin: "\nnope\n\ns3cret\n", rc: 0, want: []string{"ANS1051I Invalid user id or password", "Session established"}},
		{name: "three-wrong", stdin: "\na\n\nb\n\nc\n", rc: 12, want: []string{"ANS1025E Session rejected: Authentication failure"}},
		{name: "password-option", args: []string{"-password=s3cret"}, rc: 0, want: []string{"Session established"}, not: []string{userPrompt}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.runWith(runOpts{stdin: tc.stdin}, append([]string{"q", "sess"}, tc.args...)...)
			if r.rc != tc.rc {
				t.Fatalf("want rc %d\n%s", tc.rc, r)
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
		})
	}
	// passwordaccess generate never prompts and ignores -password (IBM doc).
	s.admin("update", "node", "NODEA", "passwordaccess=generate")
	r := s.must(0, "q", "sess", "-password=whatever")
	if strings.Contains(r.stdout, "Please enter") {
		t.Fatalf("generate must not prompt\n%s", r)
	}
}

func TestConfigurationErrors(t *testing.T) {
	s := newSim(t)
	dsmDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dsmDir, "dsm.sys"), []byte("SERVERNAME tsm1\n  NODENAME fromstanza\n  TCPSERVERADDRESS 127.0.0.1\nSERVERNAME tsm2\n  NODENAME other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		rc   int
		want string
	}{
		{"no server directory", map[string]string{"DSMSIM_ROOT": ""}, []string{"q", "sess"}, 12, "ANS1017E Session rejected: TCP/IP connection failure"},
		{"unknown stanza", map[string]string{"DSM_DIR": dsmDir}, []string{"q", "sess", "-se=nope"}, 12, "ANS1217E Server name not found in System Options File"},
		{"stanza node name", map[string]string{"DSM_DIR": dsmDir, "DSMSIM_NODE": ""}, []string{"q", "sess", "-servername=TSM2"}, 0, "Node Name: OTHER"},
		{"first stanza by default", map[string]string{"DSM_DIR": dsmDir, "DSMSIM_NODE": ""}, []string{"q", "sess"}, 0, "Node Name: FROMSTANZA"},
		{"missing optfile", nil, []string{"q", "sess", "-optfile=/nonexistent/dsm.opt"}, 12, "ANS1035S"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.runWith(runOpts{env: tc.env}, tc.args...)
			if r.rc != tc.rc || !strings.Contains(r.stdout, tc.want) {
				t.Fatalf("want rc %d and %q\n%s", tc.rc, tc.want, r)
			}
		})
	}
}
