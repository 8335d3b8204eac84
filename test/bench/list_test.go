package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/tsm-csi/tsm-csi-sidecar/pkg/tsm"
	"github.com/tsm-csi/tsm-csi-sidecar/test/harness"
)

const (
	listObjects  = 10000
	listPageSize = 1000
)

// BenchmarkListSnapshots seeds the simulated TSM server with 10,000 image backups named the
// way the driver names them, starts the driver (at --v=2, as deployed) and measures, each
// iteration:
//   - one bare `dsmc query image` through pkg/tsm and the same exec path the driver uses;
//   - ListSnapshots' first page (max_entries 1000) over the driver's socket;
//   - a whole walk by pages of 1000, first page included.
//
// Metrics (medians over the iterations): bare-query-ms, first-page-ms,
// first-page-over-bare-ms (goal <= 100), walk-ms, walk-ratio (walk / bare query; goal <= 2),
// and driver-peak-rss-MiB (the driver's VmHWM at the end; goal <= 64).
func BenchmarkListSnapshots(b *testing.B) {
	needRoot(b)
	dir := b.TempDir()
	bins, err := harness.Build(filepath.Join(dir, "bin"))
	if err != nil {
		b.Fatal(err)
	}
	server := filepath.Join(dir, "server")
	prefix := randomName("bench")
	var names bytes.Buffer
	for range listObjects {
		key, vol := make([]byte, 8), make([]byte, 10)
		rand.Read(key)
		rand.Read(vol)
		fmt.Fprintf(&names, "/dev/%s-%s-%s-%x %d\n", prefix, hex.EncodeToString(key), hex.EncodeToString(vol), 1<<30, 1<<30)
	}
	if err := bins.AdminInput(server, &names, "seed", "objects", "node=BENCH", "type=image"); err != nil {
		b.Fatal(err)
	}
	d, err := harness.Start(context.Background(), harness.DriverConfig{
		Bin: bins, Dir: filepath.Join(dir, "driver"), NodeID: "bench", TSMNode: "BENCH",
		ServerDir: server, Prefix: prefix, Args: []string{"--v=2"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop() })
	ctl := d.Controller()
	ctx := context.Background()

	bare := tsm.NewClient(tsm.Config{Binary: bins.Dsmc, WorkDir: b.TempDir()},
		tsm.ExecRunner{Env: []string{"DSMSIM_ROOT=" + server, "DSMSIM_NODE=BENCH"}})
	query := func() time.Duration {
		start := time.Now()
		l, err := bare.QueryImageListing(ctx, "", false)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(l.Objects) != listObjects {
			b.Fatalf("query image listed %d objects, want %d", len(l.Objects), listObjects)
		}
		return took
	}
	page := func(token string) (*csi.ListSnapshotsResponse, time.Duration) {
		start := time.Now()
		resp, err := ctl.ListSnapshots(ctx, &csi.ListSnapshotsRequest{MaxEntries: listPageSize, StartingToken: token})
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Entries) == 0 || len(resp.Entries) > listPageSize {
			b.Fatalf("a page of %d entries", len(resp.Entries))
		}
		return resp, took
	}
	walk := func() time.Duration {
		var took time.Duration
		seen, token, last := 0, "", ""
		for {
			resp, t := page(token)
			took += t
			for _, e := range resp.Entries {
				if e.Snapshot.SnapshotId <= last {
					b.Fatalf("walk out of order: %s after %s", e.Snapshot.SnapshotId, last)
				}
				last = e.Snapshot.SnapshotId
			}
			seen += len(resp.Entries)
			if token = resp.NextToken; token == "" {
				break
			}
		}
		if seen != listObjects {
			b.Fatalf("walk listed %d snapshots, want %d", seen, listObjects)
		}
		return took
	}

	// Warm-up: page cache, the driver's options file, both processes' first allocations.
	query()
	walk()
	var bares, firsts, walks []time.Duration
	b.ResetTimer()
	for range b.N {
		bares = append(bares, query())
		resp, t := page("")
		if resp.NextToken == "" || len(resp.Entries) != listPageSize {
			b.Fatalf("first page: %d entries, next token %q", len(resp.Entries), resp.NextToken)
		}
		firsts = append(firsts, t)
		walks = append(walks, walk())
	}
	b.StopTimer()
	ms := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	q, f, w := ms(bares), ms(firsts), ms(walks)
	b.ReportMetric(q, "bare-query-ms")
	b.ReportMetric(f, "first-page-ms")
	b.ReportMetric(f-q, "first-page-over-bare-ms")
	b.ReportMetric(w, "walk-ms")
	b.ReportMetric(w/q, "walk-ratio")
	b.ReportMetric(float64(peakRSSKiB(b, d.Pid()))/1024, "driver-peak-rss-MiB")
}

// peakRSSKiB is VmHWM of a running process: the most resident memory it ever had.
func peakRSSKiB(b *testing.B, pid int) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmHWM %q: %v", v, err)
			}
			return kib
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
