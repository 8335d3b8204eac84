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

// settings are the command's flags. They are defined by defineFlags on a FlagSet of the
// caller's so that a test can read their defaults.
type settings struct {
	endpoint, nodeID, driverName, stateDir, dsmcPath, prefix   *string
	compression, serverName, optFile, asNodeName, passwordFile *string
	mode, linkDir, cutFallback, defaultFSType, metricsAddress  *string
	metaDir                                                    *string
	verifyRestores, digests                                    *bool
	dsmcTimeout, maxFreeze, healthInterval                     *time.Duration
	maxDsmc                                                    *int
	overcommitRatio                                            *float64
	showVersion                                                *bool
	maxVolumeSize, defaultVolSize                              byteSize
}

// defineFlags defines every flag of the driver on fs; the defaults come from pkg/csi.
func defineFlags(fs *flag.FlagSet) *settings {
	s := &settings{defaultVolSize: byteSize(csi.DefaultVolumeSize)}
	s.endpoint = fs.String("endpoint", csi.DefaultEndpoint, "CSI endpoint (unix:///path/csi.sock)")
	s.nodeID = fs.String("node-id", "", "this node's name; also the value of the topology key")
	s.driverName = fs.String("driver-name", csi.DefaultDriverName, "CSI driver name")
	s.stateDir = fs.String("state-dir", csi.DefaultStateDir, "directory of volume backing files, cuts and records")
	s.dsmcPath = fs.String("dsmc", csi.DefaultDsmc, "path of the dsmc binary (looked up in PATH when it has no slash)")
	s.prefix = fs.String("tsm-volume-prefix", csi.DefaultVolumePrefix, "prefix of the stable links that name TSM objects (<prefix>-<snapshot>)")
	s.compression = fs.String("tsm-compression", "", "dsmc -compression: yes, no, or empty to follow dsm.sys")
	s.serverName = fs.String("tsm-servername", "", "dsmc -servername (the dsm.sys stanza)")
	s.optFile = fs.String("tsm-optfile", "", "dsmc -optfile (client options file)")
	s.asNodeName = fs.String("tsm-asnodename", "", "dsmc -asnodename: the TSM target node shared by all Kubernetes nodes (needed to restore on another node)")
	s.passwordFile = fs.String("tsm-password-file", "", "file holding the TSM password, answered to dsmc's prompt on stdin; leave empty with PASSWORDACCESS GENERATE")
	s.mode = fs.String("tsm-mode", csi.DefaultTSMMode, "default backup mode: image (dsmc backup image of a loop device) or file (dsmc selective of a file)")
	s.dsmcTimeout = fs.Duration("dsmc-timeout", csi.DefaultDsmcTimeout, "longest time one dsmc process may run")
	s.maxDsmc = fs.Int("max-concurrent-dsmc", csi.DefaultMaxConcurrentDsmc, "dsmc processes allowed at once")
	s.linkDir = fs.String("link-dir", csi.DefaultLinkDir, "directory of the image-mode hardlinks; must be the devtmpfs holding the loop devices")
	s.cutFallback = fs.String("cut-fallback", csi.DefaultCutFallback, "where the state directory cannot reflink: copy (full sparse copy), live (back up the live device, not point-in-time) or fail")
	s.defaultFSType = fs.String("default-fstype", csi.DefaultFSType, "file system of mount volumes whose request names none: ext4 or xfs")
	s.overcommitRatio = fs.Float64("overcommit-ratio", csi.DefaultOvercommitRatio, "thin provisioning: volumes may promise this many times the free space of the state directory; 1 = every byte promised is there")
	s.maxFreeze = fs.Duration("max-freeze", csi.DefaultMaxFreeze, "longest time a mounted file system stays frozen for a snapshot cut; past it the cut is abandoned and the file system thawed")
	s.metaDir = fs.String("tsm-meta-dir", csi.DefaultMetaDir, "directory where snapshot metadata objects are staged; their TSM names are paths in it, so it must be the same on every node")
	s.verifyRestores = fs.Bool("verify-restores", true, "hash restored data and compare it with the snapshot's digest before the volume is handed out")
	s.digests = fs.Bool("snapshot-digests", true, "hash each cut while it uploads and store the digest in the snapshot's metadata object; false leaves later restores of it unverified")
	s.healthInterval = fs.Duration("tsm-health-interval", csi.DefaultTSMHealthInterval, "time between TSM session checks (dsmc query session) while they succeed; failed checks are retried after 5s, doubling up to 5m")
	s.metricsAddress = fs.String("metrics-address", "", "address for Prometheus metrics (e.g. :9810); empty disables")
	s.showVersion = fs.Bool("version", false, "print the version and exit")
	fs.Var(&s.maxVolumeSize, "max-volume-size", "largest volume allowed (bytes, or with Ki/Mi/Gi/Ti); 0 = no limit")
	fs.Var(&s.defaultVolSize, "default-volume-size", "size of a volume created without a capacity request")
	return s
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check-tsm" {
		os.Exit(checkTSM(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "snapshots" {
		os.Exit(snapshots(os.Args[2:], os.Stdout, os.Stderr))
	}
	f := defineFlags(flag.CommandLine)
	klog.InitFlags(nil)
	flag.Parse()
	if *f.showVersion {
		fmt.Println("tsm-csi-sidecar", version)
		return
	}
	if *f.nodeID == "" {
		klog.ErrorS(nil, "--node-id is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	client := tsm.NewClient(tsm.Config{
		Binary:       *f.dsmcPath,
		ServerName:   *f.serverName,
		OptFile:      *f.optFile,
		AsNodeName:   *f.asNodeName,
		Compression:  *f.compression,
		PasswordFile: *f.passwordFile,
		Timeout:      *f.dsmcTimeout,
		WorkDir:      *f.stateDir, // the driver's own dsmc options file, beside its records
	}, nil)
	driver, err := csi.NewDriver(csi.Options{
		DriverName:        *f.driverName,
		NodeID:            *f.nodeID,
		Version:           version,
		StateDir:          *f.stateDir,
		LinkDir:           *f.linkDir,
		VolumePrefix:      *f.prefix,
		DefaultMode:       tsm.Mode(*f.mode),
		CutFallback:       *f.cutFallback,
		MaxConcurrentDsmc: *f.maxDsmc,
		MaxVolumeSize:     int64(f.maxVolumeSize),
		DefaultVolumeSize: int64(f.defaultVolSize),
		DefaultFSType:     *f.defaultFSType,
		MaxFreeze:         *f.maxFreeze,
		OvercommitRatio:   *f.overcommitRatio,
		MetaDir:           *f.metaDir,
		NoVerify:          !*f.verifyRestores,
		NoDigest:          !*f.digests,
		TSMHealthInterval: *f.healthInterval,
	}, client, mount.NewMounter())
	if err == nil {
		err = driver.Start(ctx)
	}
	if err != nil {
		klog.ErrorS(err, "Starting the driver failed")
		os.Exit(1)
	}
	if *f.metricsAddress != "" {
		srv := &http.Server{Addr: *f.metricsAddress, Handler: driver.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				klog.ErrorS(err, "Metrics server stopped")
			}
		}()
		defer func() { _ = srv.Close() }()
	}
	if err := driver.Serve(ctx, *f.endpoint); err != nil {
		klog.ErrorS(err, "Serving CSI failed")
		os.Exit(1)
	}
	klog.InfoS("Stopped")
	klog.Flush()
}
