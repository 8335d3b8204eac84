package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/csi"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/fieldkit"
	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
)

// checkTSM runs the field kit: `tsm-csi-sidecar check-tsm [flags]`, with
// the driver's own --tsm-* flags, on one node with the real client. Exit
// code 0: every assumption the driver depends on holds; 1: one does not;
// 2: the kit itself could not run. See docs/check-tsm.md.
func checkTSM(args []string) int {
	fs := flag.NewFlagSet("check-tsm", flag.ContinueOnError)
	var (
		dsmcPath     = fs.String("dsmc", "dsmc", "path of the dsmc binary")
		serverName   = fs.String("tsm-servername", "", "dsmc -servername (the dsm.sys stanza)")
		optFile      = fs.String("tsm-optfile", "", "the site's client options file (dsm.opt)")
		asNodeName   = fs.String("tsm-asnodename", "", "dsmc -asnodename target node")
		passwordFile = fs.String("tsm-password-file", "", "file holding the TSM password (prompt answers on stdin)")
		compression  = fs.String("tsm-compression", "", "yes, no, or empty: what the driver is configured with")
		dsmcTimeout  = fs.Duration("dsmc-timeout", 30*time.Minute, "longest time one dsmc process may run")
		stateDir     = fs.String("state-dir", "/var/lib/tsm-csi", "the driver's state directory (file-mode links go to <state-dir>/tsm)")
		linkDir      = fs.String("link-dir", "/dev", "directory of the image-mode hardlinks (the devtmpfs holding the loop devices)")
		metaDir      = fs.String("tsm-meta-dir", csi.DefaultMetaDir, "the driver's directory of snapshot metadata objects")
		scratchDir   = fs.String("scratch-dir", "", "directory for the kit's backing files; default <state-dir>/check-tsm")
		size         = fs.Int64("size", 16<<20, "test volume size in bytes (a whole number of MiB)")
		seed         = fs.Bool("seed-password", false, "only store the node's password from --tsm-password-file (PASSWORDACCESS GENERATE), then exit")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := tsm.Config{
		Binary:       *dsmcPath,
		ServerName:   *serverName,
		OptFile:      *optFile,
		AsNodeName:   *asNodeName,
		PasswordFile: *passwordFile,
		Compression:  *compression,
		Timeout:      *dsmcTimeout,
	}
	if *scratchDir == "" {
		*scratchDir = filepath.Join(*stateDir, "check-tsm")
	}
	if _, err := os.Stat(*scratchDir); os.IsNotExist(err) {
		if err := os.MkdirAll(*scratchDir, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, "check-tsm:", err)
			return 2
		}
		defer func() { _ = os.Remove(*scratchDir) }() // only if empty: the kit removes what it made
	}
	cfg.WorkDir = *scratchDir
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *seed {
		work, err := os.MkdirTemp(*scratchDir, "seed-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "check-tsm:", err)
			return 2
		}
		defer func() { _ = os.RemoveAll(work) }()
		cfg.WorkDir = work
		if err := tsm.NewClient(cfg, nil).SeedPassword(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "check-tsm: seeding the password:", err)
			return 1
		}
		fmt.Println("check-tsm: the password is stored; dsmc logs in without a prompt")
		return 0
	}
	fileLinks := filepath.Join(*stateDir, "tsm")
	if _, err := os.Stat(fileLinks); err != nil {
		fmt.Fprintln(os.Stderr, "check-tsm: the driver's file-link directory:", err)
		return 2
	}
	if err := os.MkdirAll(*metaDir, 0o750); err != nil {
		fmt.Fprintln(os.Stderr, "check-tsm: the metadata directory:", err)
		return 2
	}
	ok, err := fieldkit.Run(ctx, fieldkit.Config{
		TSM: cfg, LinkDir: *linkDir, FileLinkDir: fileLinks, MetaDir: *metaDir, ScratchDir: *scratchDir, Size: *size,
	}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check-tsm:", err)
		return 2
	}
	if !ok {
		return 1
	}
	return 0
}
