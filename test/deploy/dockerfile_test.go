// Package deploy checks the deployment files that no other test runs: the image's Dockerfile
// (without Docker) and the kustomizations.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const dockerfile = "deploy/kubernetes/image/Dockerfile"

// instructions returns the Dockerfile's instructions with continuation lines joined and
// comments dropped.
func instructions(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, l := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cur += trimmed
		if cur != "" {
			out = append(out, cur)
		}
		cur = ""
	}
	return out
}

// ignored reads the build context filter next to the Dockerfile (top-level names only, which
// is all it uses).
func ignored(t *testing.T, root string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, dockerfile+".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out[strings.Trim(l, "/")] = true
		}
	}
	return out
}

// TestDockerfileBuilds checks every path the Dockerfile copies from the build context exists
// and is not filtered out of it, then builds the driver from a copy of exactly those paths
// with the command, environment and flags of the Dockerfile's RUN line.
func TestDockerfileBuilds(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir() // the build context as the build stage sees it (WORKDIR /src)
	skip := ignored(t, root)
	var build string
	stage := 0
	for _, ins := range instructions(t, filepath.Join(root, dockerfile)) {
		f := strings.Fields(ins)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			stage++
		case "COPY":
			if strings.HasPrefix(f[1], "--from=") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				rel := strings.Trim(src, "/")
				if skip[strings.SplitN(rel, "/", 2)[0]] {
					t.Errorf("Dockerfile: COPY %s, but %s.dockerignore keeps it out of the build context", src, filepath.Base(dockerfile))
				}
				if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
					t.Errorf("Dockerfile: COPY %s: no such path in the repository", src)
					continue
				}
				if stage == 1 {
					if out, err := exec.Command("cp", "-a", filepath.Join(root, rel), filepath.Join(ctx, rel)).CombinedOutput(); err != nil {
						t.Fatalf("cp %s: %v %s", rel, err, out)
					}
				}
			}
		case "RUN":
			if strings.Contains(ins, "go build") {
				build = strings.TrimSpace(ins[len(f[0]):])
			}
		}
	}
	if t.Failed() {
		return
	}
	if build == "" {
		t.Fatal("Dockerfile: no RUN line with go build")
	}
	out := filepath.Join(t.TempDir(), "out")
	// The RUN line runs in a shell with the stage's ARG VERSION; /out is the output directory.
	script := strings.ReplaceAll(build, "/out/", out+"/")
	cmd := exec.Command("/bin/sh", "-ec", "mkdir -p "+out+" && "+script)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "VERSION=dockerfile-test", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command fails on the files it copies:\n%s\n%v\n%s", script, err, msg)
	}
	bin := filepath.Join(out, "tsm-csi-sidecar")
	msg, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(msg), "dockerfile-test") {
		t.Fatalf("the built driver does not report the version it was built with: %v %s", err, msg)
	}
}
