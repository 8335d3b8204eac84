package main

import (
	"fmt"
	"strings"
	"time"
)

// statCol is the column where the last digit of every statistics value ends
// (8.1.7 output, sample 06).
const statCol = 46

func (c *client) stat(label, value, suffix string) {
	pad := max(1, statCol-len(label)-len(value))
	c.printf("%s%s%s%s\n", label, strings.Repeat(" ", pad), value, suffix)
}

func (c *client) statCount(label string, n int64) { c.stat(label, c.fm.count(n), "") }

func (c *client) statBytes(label string, n int64) {
	num, unit := c.fm.size(n)
	c.stat(label, num, fmt.Sprintf(" %2s", unit))
}

func (c *client) statRate(label string, bytes int64, d time.Duration) {
	rate := 0.0
	if s := d.Seconds(); s > 0 {
		rate = float64(bytes) / 1024 / s
	}
	c.stat(label, c.fm.fixed(rate, 2), " KB/sec")
}

// backupTotals feeds the backup statistics block.
type backupTotals struct {
	inspected, backedUp, failed int64
	bytesInspected, bytesSent   int64
	xfer                        time.Duration
}

func (c *client) printBackupStats(t backupTotals) {
	if c.quiet {
		return // IBM performance guide: with QUIET "summary information" is not displayed
	}
	elapsed := time.Since(c.start)
	c.statCount("Total number of objects inspected:", t.inspected)
	c.statCount("Total number of objects backed up:", t.backedUp)
	c.statCount("Total number of objects updated:", 0)
	c.statCount("Total number of objects rebound:", 0)
	c.statCount("Total number of objects deleted:", 0)
	c.statCount("Total number of objects expired:", 0)
	c.statCount("Total number of objects failed:", t.failed)
	c.statCount("Total number of objects encrypted:", 0)
	c.statCount("Total number of objects grew:", 0)
	c.statCount("Total number of retries:", 0)
	c.statBytes("Total number of bytes inspected:", t.bytesInspected)
	c.statBytes("Total number of bytes transferred:", t.bytesSent)
	c.stat("Data transfer time:", c.fm.fixed(t.xfer.Seconds(), 2), " sec")
	c.statRate("Network data transfer rate:", t.bytesSent, t.xfer)
	c.statRate("Aggregate data transfer rate:", t.bytesSent, elapsed)
	reduction := 0.0
	if t.bytesInspected > 0 && t.bytesSent < t.bytesInspected {
		reduction = 100 * float64(t.bytesInspected-t.bytesSent) / float64(t.bytesInspected)
	}
	c.stat("Objects compressed by:", c.fm.fixed(reduction, 0), "%")
	c.stat("Total data reduction ratio:", c.fm.fixed(reduction, 2), "%")
	c.stat("Elapsed processing time:", hms(elapsed), "")
}

// restoreTotals feeds the restore statistics block.
type restoreTotals struct {
	restored, failed int64
	bytes            int64
	xfer             time.Duration
}

func (c *client) printRestoreStats(t restoreTotals) {
	if c.quiet {
		return // IBM performance guide: with QUIET "summary information" is not displayed
	}
	elapsed := time.Since(c.start)
	c.statCount("Total number of objects restored:", t.restored)
	c.statCount("Total number of objects failed:", t.failed)
	c.statBytes("Total number of bytes transferred:", t.bytes)
	c.stat("Data transfer time:", c.fm.fixed(t.xfer.Seconds(), 2), " sec")
	c.statRate("Network data transfer rate:", t.bytes, t.xfer)
	c.statRate("Aggregate data transfer rate:", t.bytes, elapsed)
	c.stat("Elapsed processing time:", hms(elapsed), "")
}

func (c *client) printDeleteStats(deleted, failed int64) {
	if c.quiet {
		return // IBM performance guide: with QUIET "summary information" is not displayed
	}
	c.statCount("Total number of objects deleted:", deleted)
	c.statCount("Total number of objects failed:", failed)
	c.stat("Elapsed processing time:", hms(time.Since(c.start)), "")
}
