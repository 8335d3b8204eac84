// Package csi holds the gRPC servers of the driver: Identity, Controller and Node, served on one
// unix socket. It speaks CSI semantics only; dsmc is reached through pkg/tsm and the kernel
// through pkg/mount.
package csi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/state"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// Cut fallbacks: what CreateSnapshot does where the state directory cannot reflink.
const (
	CutCopy = "copy" // a full sparse copy of the backing file: consistent, costs time and space
	CutLive = "live" // back up the live device: no extra space, not point-in-time
	CutFail = "fail" // refuse the snapshot
)

// Options configure a Driver.
type Options struct {
	DriverName        string
	NodeID            string
	Version           string
	StateDir          string
	LinkDir           string // directory of the image-mode hardlinks; must be on the devtmpfs that holds the loop devices
	VolumePrefix      string
	DefaultMode       tsm.Mode
	CutFallback       string
	MaxConcurrentDsmc int
	MaxVolumeSize     int64
	DefaultVolumeSize int64
	DefaultFSType     string        // for mount volumes whose capability names none
	MaxFreeze         time.Duration // longest time a file system may stay frozen for a cut
	OvercommitRatio   float64       // how many times the free space volumes may promise; 0 means 1
	MetaDir           string        // where snapshot metadata objects are staged and named in TSM; the same on every node
	NoVerify          bool          // restore without checking the data against the snapshot's digest
	NoDigest          bool          // store snapshot metadata without a digest (no hashing while uploading)
	TSMHealthInterval time.Duration // between TSM session checks while they succeed; 0 means the default
}

// Driver implements the CSI Identity, Controller and Node services.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer
	csi.UnimplementedGroupControllerServer

	opts        Options
	tsm         *tsm.Client
	mounter     *mount.Mounter
	loops       loopDevices
	codec       handleCodec
	topologyKey string

	volumes *state.Dir
	vols    *volumeBook // the one writer of volume records; volumes is for reading
	snaps   *snapshotBook
	groups  *groupBook
	freezes *state.Dir // file systems frozen right now: recorded before the freeze, thawed at start-up
	dataDir string     // backing files of volumes
	cutDir  string     // point-in-time cuts waiting for upload
	fileDir string     // file-mode hardlinks (the TSM object names of file backups)

	// nodes holds what the node service staged and published; written by node.go only.
	nodes *state.Dir

	inflight  *inFlight
	slots     chan struct{} // one token per dsmc process allowed at once
	longSlots chan struct{} // tokens for uploads and restores: all slots but one
	jobs      *jobs
	space     *ledger
	outcomes  sync.Map // volume id -> *restoreOutcome: restore results no record could hold
	metrics   *metrics
	health    *tsmHealth // watches the TSM session from Start on; nil without a client
	walks     *walkCache // listings of ListSnapshots walks in progress

	stateLock *os.File
	stopOnce  sync.Once
}

// NewDriver checks the options and builds the driver; it touches nothing. Start takes the state
// directory and recovers what an earlier run left behind.
func NewDriver(opts Options, client *tsm.Client, mounter *mount.Mounter) (*Driver, error) {
	if opts.DriverName == "" || opts.NodeID == "" {
		return nil, errors.New("driver name and node id are required")
	}
	if !filepath.IsAbs(opts.StateDir) {
		return nil, fmt.Errorf("state directory %q must be an absolute path", opts.StateDir)
	}
	if opts.LinkDir == "" {
		opts.LinkDir = DefaultLinkDir
	}
	if opts.DefaultMode == "" {
		opts.DefaultMode = tsm.Mode(DefaultTSMMode)
	}
	if opts.DefaultMode != tsm.ModeImage && opts.DefaultMode != tsm.ModeFile {
		return nil, fmt.Errorf("TSM mode %q: want image or file", opts.DefaultMode)
	}
	switch opts.CutFallback {
	case "":
		opts.CutFallback = DefaultCutFallback
	case CutCopy, CutLive, CutFail:
	default:
		return nil, fmt.Errorf("cut fallback %q: want copy, live or fail", opts.CutFallback)
	}
	if opts.DefaultFSType == "" {
		opts.DefaultFSType = DefaultFSType
	}
	if _, err := fsTypeOf(opts.DefaultFSType, ""); err != nil {
		return nil, err
	}
	if opts.MaxConcurrentDsmc <= 0 {
		opts.MaxConcurrentDsmc = DefaultMaxConcurrentDsmc
	}
	if opts.DefaultVolumeSize <= 0 {
		opts.DefaultVolumeSize = DefaultVolumeSize
	}
	if opts.OvercommitRatio == 0 {
		opts.OvercommitRatio = DefaultOvercommitRatio
	}
	if math.IsNaN(opts.OvercommitRatio) || math.IsInf(opts.OvercommitRatio, 0) || opts.OvercommitRatio < 1 {
		return nil, fmt.Errorf("overcommit ratio %v: want a number of at least 1", opts.OvercommitRatio)
	}
	if opts.MaxFreeze <= 0 {
		opts.MaxFreeze = DefaultMaxFreeze
	}
	if opts.MetaDir == "" {
		opts.MetaDir = DefaultMetaDir
	}
	d := &Driver{
		opts:        opts,
		tsm:         client,
		mounter:     mounter,
		loops:       hostLoops{},
		topologyKey: "topology." + opts.DriverName + "/node",
		dataDir:     filepath.Join(opts.StateDir, "volumes"),
		cutDir:      filepath.Join(opts.StateDir, "cuts"),
		fileDir:     filepath.Join(opts.StateDir, "tsm"),
		inflight:    newInFlight(),
		slots:       make(chan struct{}, opts.MaxConcurrentDsmc),
		longSlots:   make(chan struct{}, max(1, opts.MaxConcurrentDsmc-1)),
		jobs:        newJobs(),
		metrics:     newMetrics(),
		walks:       newWalkCache(time.Now),
		space:       &ledger{ratio: opts.OvercommitRatio},
	}
	codec, err := newHandleCodec(opts.VolumePrefix, filepath.Clean(opts.LinkDir), d.fileDir, opts.MetaDir)
	if err != nil {
		return nil, err
	}
	d.codec = codec
	if client != nil {
		d.tsm = client.WithObserver(d.metrics.observeDsmc)
		d.health = newTSMHealth(d, opts.TSMHealthInterval)
		// The longest id this configuration can make: a file-mode snapshot of a 1 PiB volume.
		longest := codec.ref(tsm.ModeFile, client.AsNodeName(), "s0123456789abcdef", "vol-0123456789abcdef0123", 1<<50)
		if _, err := codec.encode(longest); err != nil {
			if opts.DefaultMode == tsm.ModeFile {
				return nil, err
			}
			klog.InfoS("WARNING: file-mode snapshots may not fit the 128-byte CSI id; use a shorter --state-dir", "reason", err.Error())
		}
		if _, err := codec.encode(codec.ref(tsm.ModeImage, client.AsNodeName(), "s0123456789abcdef", "vol-0123456789abcdef0123", 1<<50)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Start takes the state directory (one driver per directory), opens the records, and recovers
// what an earlier run left behind: frozen file systems, volumes, unfinished jobs, orphans.
func (d *Driver) Start(ctx context.Context) error {
	for _, dir := range []string{d.opts.StateDir, d.dataDir, d.cutDir, d.fileDir, d.opts.MetaDir, d.tmpDir()} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	if err := d.lockStateDir(); err != nil {
		return err
	}
	var err error
	open := func(name string) *state.Dir {
		if err != nil {
			return nil
		}
		var dir *state.Dir
		dir, err = state.OpenDir(filepath.Join(d.opts.StateDir, "records", name))
		return dir
	}
	d.volumes = open("volumes")
	d.vols = newVolumeBook(d.volumes)
	d.snaps = newSnapshotBook(open("snapshots"))
	d.groups = newGroupBook(open("groups"))
	d.nodes = open("node")
	d.freezes = open("freezes")
	if err != nil {
		d.Stop()
		return err
	}
	if err := d.recover(ctx); err != nil {
		d.Stop()
		return fmt.Errorf("recover state: %w", err)
	}
	d.startMonitoring()
	return nil
}

// lockStateDir stops a second driver from sharing the state directory, which would make two
// processes own the same loop devices and jobs.
func (d *Driver) lockStateDir() error {
	f, err := os.OpenFile(filepath.Join(d.opts.StateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return fmt.Errorf("state directory %s is in use by another driver: %w", d.opts.StateDir, err)
	}
	d.stateLock = f
	return nil
}

// Stop cancels background jobs and waits for them; what they leave is recovered at the next start.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() {
		d.jobs.stopAll()
		if d.stateLock != nil {
			_ = d.stateLock.Close() // releases the flock; nothing was written through it
		}
	})
}

// Serve answers CSI on endpoint (unix:///path/csi.sock) until ctx is done, then stops gracefully.
func (d *Driver) Serve(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "unix" || (u.Path == "" && u.Host == "") {
		return fmt.Errorf("endpoint %q: want unix:///path/to/csi.sock", endpoint)
	}
	sock := u.Path
	if u.Host != "" {
		sock = u.Host + u.Path
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o750); err != nil {
		return err
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	// The umask makes the socket 0660 from the start: a chmod after Listen leaves a window.
	old := unix.Umask(0o117)
	lis, err := net.Listen("unix", sock)
	unix.Umask(old)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(d.logRequests))
	csi.RegisterIdentityServer(srv, d)
	csi.RegisterControllerServer(srv, d)
	csi.RegisterNodeServer(srv, d)
	csi.RegisterGroupControllerServer(srv, d)
	klog.InfoS("Serving CSI", "endpoint", endpoint, "driver", d.opts.DriverName, "node", d.opts.NodeID, "version", d.opts.Version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	klog.InfoS("Stopping CSI server")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		srv.Stop()
	}
	d.Stop()
	return nil
}

func (d *Driver) logRequests(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	quiet := method == "Probe" || method == "NodeGetCapabilities" || method == "GetCapacity"
	if !quiet {
		klog.V(3).InfoS("CSI request", "method", method, "request", protosanitizer.StripSecrets(req))
	}
	start := time.Now()
	resp, err := handler(ctx, req)
	d.metrics.observeRPC(method, codeOf(err), time.Since(start))
	if err != nil {
		err = toStatus(err)
		klog.ErrorS(err, "CSI request failed", "method", method, "request", protosanitizer.StripSecrets(req))
	} else if !quiet {
		klog.V(4).InfoS("CSI response", "method", method, "response", protosanitizer.StripSecrets(resp))
	}
	return resp, err
}
