package tsm

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for the tests that run pkg/tsm against the project's dsmc
// simulator (cmd/dsmc-sim) and against real loop devices.

var (
	simOnce sync.Once
	simDir  string // holds the built binary; removed by TestMain
	simBin  string
	simErr  error
)

func TestMain(m *testing.M) {
	if s := os.Getenv(deathsigHelperEnv); s != "" {
		runAsDriver(s)
	}
	code := m.Run()
	if simDir != "" {
		_ = os.RemoveAll(simDir)
	}
	os.Exit(code)
}

func goTool() string { return "go" }

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("not inside a module")
	}
	return filepath.Dir(gomod)
}

// simulator builds cmd/dsmc-sim once per test binary as a file named dsmc.
// The test is skipped only while the simulator's directory does not exist;
// if it exists it must build.
func simulator(t *testing.T) string {
	t.Helper()
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", "dsmc-sim")); errors.Is(err, fs.ErrNotExist) {
		t.Skip("cmd/dsmc-sim does not exist yet")
	}
	simOnce.Do(func() {
		simDir, simErr = os.MkdirTemp("", "tsm-dsmc-sim-")
		if simErr != nil {
			return
		}
		simBin = filepath.Join(simDir, "dsmc")
		cmd := exec.Command(goTool(), "build", "-o", simBin, "./cmd/dsmc-sim")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			simErr = fmt.Errorf("go build ./cmd/dsmc-sim: %v\n%s", err, out)
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return simBin
}

// simServer is one simulated server: a state directory shared by the
// clients made from it.
type simServer struct {
	bin, root string
}

func newSimServer(t *testing.T) simServer {
	return simServer{bin: simulator(t), root: t.TempDir()}
}

func (s simServer) runner(node string, extraEnv ...string) ExecRunner {
	return ExecRunner{Env: append([]string{"DSMSIM_ROOT=" + s.root, "DSMSIM_NODE=" + node}, extraEnv...)}
}

func (s simServer) client(node string, extraEnv ...string) *Client {
	return NewClient(Config{Binary: s.bin, Timeout: 2 * time.Minute}, s.runner(node, extraEnv...))
}

func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and links in /dev")
	}
}

// loopDevice attaches a sparse file of size bytes, with content written at
// the given offsets, to a loop device and detaches it when the test ends.
func loopDevice(t *testing.T, size int64, content map[int64][]byte) string {
	t.Helper()
	backing := filepath.Join(t.TempDir(), "backing.img")
	f, err := os.Create(backing)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range content {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// devAlias hard-links a device node into /dev under a unique name, the way
// the driver names image objects, and removes the link when the test ends.
func devAlias(t *testing.T, dev string) string {
	t.Helper()
	alias := "/dev/tsmtest-" + randomID(t)
	if err := os.Link(dev, alias); err != nil {
		t.Fatalf("link %s %s: %v", dev, alias, err)
	}
	t.Cleanup(func() {
		if err := os.Remove(alias); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remove %s: %v", alias, err)
		}
	})
	return alias
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sameContent(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != len(y) {
		t.Fatalf("%s has %d bytes, %s has %d", a, len(x), b, len(y))
	}
	if !bytes.Equal(x, y) {
		i := 0
		for i < len(x) && x[i] == y[i] {
			i++
		}
		t.Fatalf("%s and %s differ first at byte %d", a, b, i)
	}
}

// simProcesses lists the live processes running the simulator binary.
func simProcesses() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != simBin {
			continue
		}
		if !processGone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// noSimLeft fails if a simulator process outlives its run; Run has
// returned and the group was killed, so this polls only for a bounded time.
func noSimLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := simProcesses()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("simulator processes left behind: %v", left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// admin runs "dsmc admin ..." against the server.
func (s simServer) admin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.bin, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+s.root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dsmc admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fileVolume writes size random bytes to a file in dir and returns it and
// a unique hard link to it, the name the driver backs up.
func fileVolume(t *testing.T, dir string, size int) (vol, alias string) {
	t.Helper()
	vol = filepath.Join(dir, "volume-"+randomID(t)+".img")
	if err := os.WriteFile(vol, randomBytes(t, size), 0o600); err != nil {
		t.Fatal(err)
	}
	alias = filepath.Join(dir, "tsmtest-"+randomID(t))
	if err := os.Link(vol, alias); err != nil {
		t.Fatal(err)
	}
	return vol, alias
}
