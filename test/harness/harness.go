// Package harness builds the driver and the dsmc simulator and runs them as separate processes,
// the way a node runs them, for the sanity and end-to-end tests.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Binaries are the freshly built programs under test.
type Binaries struct {
	Dir    string
	Driver string // tsm-csi-sidecar
	Dsmc   string // the simulator, installed under the name dsmc
}

// ModuleRoot is the directory holding go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Build compiles the driver and the simulator into dir.
func Build(dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Dir: dir, Driver: filepath.Join(dir, "tsm-csi-sidecar"), Dsmc: filepath.Join(dir, "dsmc")}
	for out, pkg := range map[string]string{b.Driver: "./cmd/tsm-csi-sidecar", b.Dsmc: "./cmd/dsmc-sim"} {
		args := []string{"build", "-o", out}
		// TSM_CSI_RACE=1 (make race) builds the driver with the race detector, so that the
		// end-to-end tests and csi-sanity exercise its concurrency under it.
		if os.Getenv("TSM_CSI_RACE") == "1" && pkg == "./cmd/tsm-csi-sidecar" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

// Admin runs a simulator administration command against the server in serverDir.
func (b Binaries) Admin(serverDir string, args ...string) error {
	return b.AdminInput(serverDir, nil, args...)
}

// AdminInput is Admin with stdin read from in (admin seed objects reads its names there).
func (b Binaries) AdminInput(serverDir string, in io.Reader, args ...string) error {
	cmd := exec.Command(b.Dsmc, append([]string{"admin"}, args...)...)
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+serverDir)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dsmc admin %v: %v\n%s", args, err, out)
	}
	return nil
}

// DriverConfig describes one driver process.
type DriverConfig struct {
	Bin       Binaries
	Dir       string   // working directory: socket, log; the state directory defaults to Dir/state
	StateDir  string   // optional
	NodeID    string   // Kubernetes node name
	TSMNode   string   // the simulated TSM node this driver's dsmc logs in as
	ServerDir string   // the simulated TSM server (DSMSIM_ROOT)
	Prefix    string   // --tsm-volume-prefix; unique per test run because /dev is shared
	Args      []string // more flags
	Env       []string // more environment (e.g. DSMSIM_FAULT)
}

// Driver is a running driver process.
type Driver struct {
	Config   DriverConfig
	Endpoint string
	Socket   string
	StateDir string
	Log      string
	cmd      *exec.Cmd
	done     chan error
	conn     *grpc.ClientConn
}

// Start runs the driver and waits until it answers Probe.
func Start(ctx context.Context, cfg DriverConfig) (*Driver, error) {
	d := &Driver{Config: cfg, Socket: filepath.Join(cfg.Dir, "csi.sock"), Log: filepath.Join(cfg.Dir, "driver.log")}
	d.StateDir = cfg.StateDir
	if d.StateDir == "" {
		d.StateDir = filepath.Join(cfg.Dir, "state")
	}
	d.Endpoint = "unix://" + d.Socket
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, err
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	if err := d.waitReady(ctx); err != nil {
		_ = d.Kill()
		return nil, fmt.Errorf("%w\n%s", err, d.Tail(40))
	}
	return d, nil
}

func (d *Driver) start() error {
	cfg := d.Config
	args := append([]string{
		"--endpoint=" + d.Endpoint,
		"--node-id=" + cfg.NodeID,
		"--state-dir=" + d.StateDir,
		"--dsmc=" + cfg.Bin.Dsmc,
		"--tsm-volume-prefix=" + cfg.Prefix,
		"--v=4",
		// The nodes of one simulated cluster share its metadata directory, as the nodes of a
		// real cluster share --tsm-meta-dir; tests stay out of the host's default.
		"--tsm-meta-dir=" + cfg.ServerDir + ".meta",
	}, cfg.Args...)
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	cmd := exec.Command(cfg.Bin.Driver, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "DSMSIM_ROOT="+cfg.ServerDir, "DSMSIM_NODE="+cfg.TSMNode)
	cmd.Env = append(cmd.Env, cfg.Env...)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return err
	}
	_ = logf.Close()
	d.cmd = cmd
	d.done = make(chan error, 1)
	go func() { d.done <- cmd.Wait() }()
	return nil
}

// waitReady dials the socket and blocks on Probe (WaitForReady) until the driver answers or
// exits; no fixed sleeps.
func (d *Driver) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+d.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	type result struct{ err error }
	res := make(chan result, 1)
	go func() {
		_, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{}, grpc.WaitForReady(true))
		res <- result{err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			_ = conn.Close()
			return fmt.Errorf("driver did not become ready: %w", r.err)
		}
	case err := <-d.done:
		cancel()
		_ = conn.Close()
		d.done <- err
		return fmt.Errorf("driver exited before it was ready: %v", err)
	}
	d.conn = conn
	return nil
}

// Pid is the driver's process id (0 when it is not running).
func (d *Driver) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Conn is a client connection to the driver.
func (d *Driver) Conn() *grpc.ClientConn { return d.conn }

func (d *Driver) Controller() csi.ControllerClient { return csi.NewControllerClient(d.conn) }
func (d *Driver) Node() csi.NodeClient             { return csi.NewNodeClient(d.conn) }
func (d *Driver) GroupController() csi.GroupControllerClient {
	return csi.NewGroupControllerClient(d.conn)
}

// Stop ends the driver with SIGTERM, as the kubelet does, and waits for it.
func (d *Driver) Stop() error { return d.signal(syscall.SIGTERM) }

// Kill ends the driver with SIGKILL: no cleanup of any kind runs.
func (d *Driver) Kill() error { return d.signal(syscall.SIGKILL) }

func (d *Driver) signal(sig syscall.Signal) error {
	if d.conn != nil {
		_ = d.conn.Close()
		d.conn = nil
	}
	if d.cmd == nil {
		return nil
	}
	_ = d.cmd.Process.Signal(sig)
	err := <-d.done
	d.cmd = nil
	if sig == syscall.SIGKILL {
		return nil
	}
	return err
}

// Restart starts the same driver again (after Stop or Kill) and waits until it is ready.
func (d *Driver) Restart(ctx context.Context) error {
	if err := d.start(); err != nil {
		return err
	}
	if err := d.waitReady(ctx); err != nil {
		_ = d.Kill()
		return fmt.Errorf("%w\n%s", err, d.Tail(40))
	}
	return nil
}

// Tail returns the last n lines of the driver's log.
func (d *Driver) Tail(n int) string {
	data, err := os.ReadFile(d.Log)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
