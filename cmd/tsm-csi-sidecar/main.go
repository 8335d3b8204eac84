// Command tsm-csi-sidecar serves the CSI Identity, Controller and Node services of the
// tsm-csi-sidecar driver on one unix socket. It only parses flags and wires the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/csi"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/mount"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// byteSize is a flag holding a size in bytes, written as a number with an optional binary
// suffix (Ki, Mi, Gi, Ti).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for i, suf := range []string{"Ki", "Mi", "Gi", "Ti"} {
		if strings.HasSuffix(s, suf) {
			mult = 1 << (10 * (i + 1))
			s = strings.TrimSuffix(s, suf)
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size such as 1073741824 or 100Gi")
	}
	*b = byteSize(n * mult)
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check-tsm" {
		os.Exit(checkTSM(os.Args[2:]))
	}
	var (
		endpoint       = flag.String("endpoint", "unix:///csi/csi.sock", "CSI endpoint (unix:///path/csi.sock)")
		nodeID         = flag.String("node-id", "", "this node's name; also the value of the topology key")
		driverName     = flag.String("driver-name", "tsm.csi.storage-protect.io", "CSI driver name")
		stateDir       = flag.String("state-dir", "/var/lib/tsm-csi", "directory of volume backing files, cuts and records")
		dsmcPath       = flag.String("dsmc", "dsmc", "path of the dsmc binary (looked up in PATH when it has no slash)")
		prefix         = flag.String("tsm-volume-prefix", "backup", "prefix of the stable links that name TSM objects (<prefix>-<snapshot>)")
		compression    = flag.String("tsm-compression", "", "dsmc -compression: yes, no, or empty to follow dsm.sys")
		serverName     = flag.String("tsm-servername", "", "dsmc -servername (the dsm.sys stanza)")
		optFile        = flag.String("tsm-optfile", "", "dsmc -optfile (client options file)")
		asNodeName     = flag.String("tsm-asnodename", "", "dsmc -asnodename: the TSM target node shared by all Kubernetes nodes (needed to restore on another node)")
		passwordFile   = flag.String("tsm-password-file", "", "file holding the TSM password, answered to dsmc's prompt on stdin; leave empty with PASSWORDACCESS GENERATE")
		mode           = flag.String("tsm-mode", "image", "default backup mode: image (dsmc backup image of a loop device) or file (dsmc selective of a file)")
		dsmcTimeout    = flag.Duration("dsmc-timeout", 12*time.Hour, "longest time one dsmc process may run")
		maxDsmc        = flag.Int("max-concurrent-dsmc", 2, "dsmc processes allowed at once")
		linkDir        = flag.String("link-dir", "/dev", "directory of the image-mode hardlinks; must be the devtmpfs holding the loop devices")
		cutFallback    = flag.String("cut-fallback", csi.CutCopy, "where the state directory cannot reflink: copy (full sparse copy), live (back up the live device, not point-in-time) or fail")
		defaultFSType  = flag.String("default-fstype", "ext4", "file system of mount volumes whose request names none: ext4 or xfs")
		metricsAddress = flag.String("metrics-address", "", "address for Prometheus metrics (e.g. :9810); empty disables")
		maxFreeze      = flag.Duration("max-freeze", csi.DefaultMaxFreeze, "longest time a mounted file system stays frozen for a snapshot cut; past it the cut is abandoned and the file system thawed")
		showVersion    = flag.Bool("version", false, "print the version and exit")
		maxVolumeSize  byteSize
		defaultVolSize = byteSize(1 << 30)
	)
	flag.Var(&maxVolumeSize, "max-volume-size", "largest volume allowed (bytes, or with Ki/Mi/Gi/Ti); 0 = no limit")
	flag.Var(&defaultVolSize, "default-volume-size", "size of a volume created without a capacity request")
	klog.InitFlags(nil)
	flag.Parse()
	if *showVersion {
		fmt.Println("tsm-csi-sidecar", version)
		return
	}
	if *nodeID == "" {
		klog.ErrorS(nil, "--node-id is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	client := tsm.NewClient(tsm.Config{
		Binary:       *dsmcPath,
		ServerName:   *serverName,
		OptFile:      *optFile,
		AsNodeName:   *asNodeName,
		Compression:  *compression,
		PasswordFile: *passwordFile,
		Timeout:      *dsmcTimeout,
		WorkDir:      *stateDir, // the driver's own dsmc options file, beside its records
	}, nil)
	driver, err := csi.NewDriver(csi.Options{
		DriverName:        *driverName,
		NodeID:            *nodeID,
		Version:           version,
		StateDir:          *stateDir,
		LinkDir:           *linkDir,
		VolumePrefix:      *prefix,
		DefaultMode:       tsm.Mode(*mode),
		CutFallback:       *cutFallback,
		MaxConcurrentDsmc: *maxDsmc,
		MaxVolumeSize:     int64(maxVolumeSize),
		DefaultVolumeSize: int64(defaultVolSize),
		DefaultFSType:     *defaultFSType,
		MaxFreeze:         *maxFreeze,
	}, client, mount.NewMounter())
	if err == nil {
		err = driver.Start(ctx)
	}
	if err != nil {
		klog.ErrorS(err, "Starting the driver failed")
		os.Exit(1)
	}
	if *metricsAddress != "" {
		srv := &http.Server{Addr: *metricsAddress, Handler: driver.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.ErrorS(err, "Metrics server stopped")
			}
		}()
		defer func() { _ = srv.Close() }()
	}
	if err := driver.Serve(ctx, *endpoint); err != nil {
		klog.ErrorS(err, "Serving CSI failed")
		os.Exit(1)
	}
	klog.InfoS("Stopped")
	klog.Flush()
}
