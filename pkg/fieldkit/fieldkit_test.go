package fieldkit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

var (
	simOnce sync.Once
	simBin  string
	simErr  error
)

// simulator builds cmd/dsmc-sim as a binary named dsmc, once per test run.
func simulator(t *testing.T) string {
	t.Helper()
	simOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			simErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "fieldkit-dsmc-")
		if err != nil {
			simErr = err
			return
		}
		simBin = filepath.Join(dir, "dsmc")
		cmd := exec.Command("go", "build", "-o", simBin, "./cmd/dsmc-sim")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			simErr = err
			simBin = string(out)
		}
	})
	if simErr != nil {
		t.Fatalf("building the simulator: %v %s", simErr, simBin)
	}
	return simBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if simBin != "" {
		_ = os.RemoveAll(filepath.Dir(simBin))
	}
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the field kit needs root for loop devices and links in /dev")
	}
}

type scenario struct {
	name     string
	register []string // dsmc admin register node ... (nil: registered on first use, GENERATE)
	pwFile   string   // password file content; "" = none
	optLines string   // site dsm.opt
	wantOK   bool
	// verdicts other than "holds" that the scenario expects, by assumption prefix
	expect map[string]Verdict
}

func TestRunAgainstSimulator(t *testing.T) {
	requireRoot(t)
	bin := simulator(t)
	for _, sc := range []scenario{
		{name: "stored password", wantOK: true,
			expect: map[string]Verdict{"dsmc reads the password prompt answers": CouldNotTell}},
		{name: "password on stdin", register: []string{"TSMTEST-KIT", "Kit-Secret-1", "passwordaccess=prompt"},
			pwFile: "Kit-Secret-1\n", wantOK: true,
			expect: map[string]Verdict{"the node logs in without a prompt": DoesNot}},
		// A site whose formats would break every parser: the kit still
		// passes because the client pins them.
		{name: "European site formats", optLines: "NUMBERFORMAT 5\nDATEFORMAT 4\nTIMEFORMAT 2\nQUIET\n", wantOK: true,
			expect: map[string]Verdict{"dsmc reads the password prompt answers": CouldNotTell}},
		// An exclude rule for the link names: the image backup "succeeds"
		// with nothing stored; the kit must say so and fail.
		{name: "excluded links", optLines: "EXCLUDE.IMAGE /dev/tsm-check-*\n", wantOK: false,
			expect: map[string]Verdict{"image backup of a loop device": DoesNot, "dsmc reads the password prompt answers": CouldNotTell}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			root := t.TempDir()
			scratch := t.TempDir()
			env := []string{"DSMSIM_ROOT=" + root, "DSMSIM_NODE=TSMTEST-KIT", "DSMSIM_OPTION_CHECK=strict"}
			if sc.register != nil {
				admin := exec.Command(bin, append([]string{"admin", "register", "node"}, sc.register...)...)
				admin.Env = append(os.Environ(), "DSMSIM_ROOT="+root)
				if out, err := admin.CombinedOutput(); err != nil {
					t.Fatalf("register: %v %s", err, out)
				}
			}
			cfg := Config{
				TSM:        tsm.Config{Binary: bin, Timeout: time.Minute},
				Runner:     tsm.ExecRunner{Env: env},
				LinkDir:    "/dev",
				ScratchDir: scratch,
				Size:       8 << 20,
			}
			if sc.pwFile != "" {
				cfg.TSM.PasswordFile = filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(cfg.TSM.PasswordFile, []byte(sc.pwFile), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			if sc.optLines != "" {
				cfg.TSM.OptFile = filepath.Join(t.TempDir(), "dsm.opt")
				if err := os.WriteFile(cfg.TSM.OptFile, []byte(sc.optLines), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var out bytes.Buffer
			ok, err := Run(ctx, cfg, &out)
			t.Logf("check-tsm report:\n%s", out.String())
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if ok != sc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, sc.wantOK)
			}
			rows := parseReport(t, out.String())
			if sc.wantOK && len(rows) < 18 {
				t.Fatalf("only %d rows", len(rows))
			}
			for assumption, v := range rows {
				want := Holds
				for prefix, w := range sc.expect {
					if strings.HasPrefix(assumption, prefix) {
						want = w
					}
				}
				if !strings.HasPrefix(v, string(want)) {
					t.Errorf("%q: %s, want %s", assumption, v, want)
				}
			}
			if v := rows["the kit leaves nothing behind"]; v != string(Holds) {
				t.Errorf("cleanup: %s", v)
			}
			noLeftovers(t, bin, root, scratch)
		})
	}
}

// parseReport maps each assumption to its verdict column.
func parseReport(t *testing.T, report string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	for _, line := range strings.Split(report, "\n")[1:] {
		if line == "" || strings.HasPrefix(line, "result:") {
			continue
		}
		f := strings.Split(line, "  ")
		var cols []string
		for _, c := range f {
			if c = strings.TrimSpace(c); c != "" {
				cols = append(cols, c)
			}
		}
		if len(cols) < 4 {
			continue
		}
		rows[cols[0]] = cols[len(cols)-1]
	}
	return rows
}

func noLeftovers(t *testing.T, bin, root, scratch string) {
	t.Helper()
	if m, _ := filepath.Glob("/dev/tsm-check-*"); len(m) > 0 {
		t.Errorf("links left in /dev: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(scratch, "tsm-check-*")); len(m) > 0 {
		t.Errorf("files left in the scratch directory: %v", m)
	}
	out, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "BACK-FILE").Output()
	if strings.Contains(string(out), scratch) {
		t.Errorf("loop devices left over %s:\n%s", scratch, out)
	}
	admin := exec.Command(bin, "admin", "query", "objects")
	admin.Env = append(os.Environ(), "DSMSIM_ROOT="+root)
	q, err := admin.CombinedOutput()
	if err != nil {
		t.Fatalf("query objects: %v %s", err, q)
	}
	if strings.Contains(string(q), "tsm-check-") {
		t.Errorf("objects left on the server:\n%s", q)
	}
}
