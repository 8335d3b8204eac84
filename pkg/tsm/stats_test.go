package tsm

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatsSamples(t *testing.T) {
	type counters struct {
		inspected, backedUp, restored, deleted, failed int64
		bytesInspected, bytesTransferred               int64
		elapsed                                        time.Duration
	}
	for _, tc := range []struct {
		name    string
		out     string
		want    counters
		present []string
	}{
		{
			name:    "06 restore of 6,491 objects, 8.1.7",
			out:     sample06(t, "dsmc restore /ibm/gpfs0/ /ibm/gpfsl/"),
			want:    counters{restored: 6491, bytesTransferred: 2544768123, elapsed: 31 * time.Second},
			present: []string{CounterRestored, CounterFailed, CounterBytesTransferred, CounterElapsed},
		},
		{
			name: "06 selective of one file, 8.1.7",
			out:  sample06(t, "dsmc sel "),
			want: counters{inspected: 1, backedUp: 1, bytesInspected: 453243, bytesTransferred: 453427, elapsed: time.Second},
			present: []string{CounterInspected, CounterBackedUp, CounterDeleted, CounterFailed,
				CounterBytesInspected, CounterBytesTransferred, CounterElapsed},
		},
		{
			name:    "06 restore of one file with asnodename",
			out:     sample06(t, "-asnodename"),
			want:    counters{restored: 1, bytesTransferred: 453315, elapsed: 3 * time.Second},
			present: []string{CounterRestored, CounterFailed, CounterBytesTransferred, CounterElapsed},
		},
		{
			name:    "17 Cinder simulator backup (FAKE spacing)",
			out:     sample17(t, "backup (success"),
			want:    counters{inspected: 1, backedUp: 1},
			present: []string{CounterInspected, CounterBackedUp},
		},
		{
			name:    "17 Cinder simulator backup failure",
			out:     sample17(t, "backup (injected failure"),
			want:    counters{inspected: 1},
			present: []string{CounterInspected},
		},
		{
			name:    "17 Cinder simulator restore",
			out:     sample17(t, "restore (success"),
			want:    counters{restored: 1},
			present: []string{CounterRestored, CounterFailed},
		},
		{
			name:    "17 Cinder simulator delete",
			out:     sample17(t, "delete (success"),
			want:    counters{deleted: 1},
			present: []string{CounterDeleted, CounterFailed},
		},
		{
			name: "02 query session has no statistics",
			out:  sampleWhole(t, "02-query-session-8.1.6.txt"),
			want: counters{},
		},
		{
			name: "CRLF, trailing blanks, odd label spacing and case, extra lines",
			out: "Total number of objects inspected:   1,234 \r\n" +
				"TOTAL NUMBER  OF OBJECTS BACKED UP:\t 1,200\r\n" +
				"Total objects deduplicated:         17\r\n" +
				"LanFree bytes transferred:          0  B\r\n" +
				"Total number of objects failed:         34   \r\n" +
				"Total number of bytes transferred:   1.00 TB\r\n" +
				"Elapsed processing time:           100:02:03\r\n",
			want: counters{inspected: 1234, backedUp: 1200, failed: 34, bytesTransferred: 1 << 40,
				elapsed: 100*time.Hour + 2*time.Minute + 3*time.Second},
			present: []string{CounterInspected, CounterBackedUp, CounterFailed, CounterBytesTransferred, CounterElapsed},
		},
		{
			name: "a file name that contains a label is not a label",
			out: "Normal File-->  12 /x/Total number of objects backed up: 5 [Sent]\n" +
				"Total number of objects backed up:      1\n",
			want:    counters{backedUp: 1},
			present: []string{CounterBackedUp},
		},
		{
			name: "the last block wins",
			out: "Total number of objects restored:  0\n" +
				"Total number of objects restored:  2\n",
			want:    counters{restored: 2},
			present: []string{CounterRestored},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseStats(tc.out)
			if err != nil {
				t.Fatalf("ParseStats: %v", err)
			}
			got := counters{st.Inspected, st.BackedUp, st.Restored, st.Deleted, st.Failed,
				st.BytesInspected, st.BytesTransferred, st.Elapsed}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if len(st.Present) != len(tc.present) {
				t.Errorf("Present = %v, want exactly %v", st.Present, tc.present)
			}
			for _, k := range tc.present {
				if !st.Present[k] {
					t.Errorf("Present[%q] missing in %v", k, st.Present)
				}
			}
		})
	}
}

// germanNumbers is a statistics block with English labels but numbers in
// the German format (as NUMBERFORMAT 5 in a dsm.opt, or a client whose
// catalog is English while the locale is de_DE, would print them; compare
// "202.784.104" in dsmc.md §2.4). It is constructed, not captured.
const germanNumbers = `Total number of objects inspected:           1
Total number of objects backed up:       6.491
Total number of objects failed:              0
Total number of bytes inspected:     202.784.104  B
Total number of bytes transferred:      442,80 KB
Elapsed processing time:              00:00:01
`

// germanLabels is the same block as a de_DE message catalog would print it:
// the labels are translated. The wording is a stand-in (the real catalog
// was not available); what matters is that no English label is left.
const germanLabels = `Gesamtzahl der untersuchten Objekte:           1
Gesamtzahl der gesicherten Objekte:        6.491
Gesamtzahl der fehlgeschlagenen Objekte:       0
Gesamtzahl der übertragenen Bytes:       442,80 KB
Verstrichene Verarbeitungszeit:         00:00:01
`

func TestParseStatsGermanNeverMisread(t *testing.T) {
	st, err := ParseStats(germanNumbers)
	if err == nil {
		t.Fatalf("German numbers parsed without error: %+v", st)
	}
	for _, label := range []string{"backed up", "bytes inspected", "bytes transferred"} {
		if !strings.Contains(err.Error(), label) {
			t.Errorf("error %q does not name %q", err, label)
		}
	}
	// Whatever was not readable must not look present with a value.
	if st.Present[CounterBackedUp] || st.BackedUp != 0 {
		t.Errorf("backed up = %d (present %v) from %q", st.BackedUp, st.Present[CounterBackedUp], "6.491")
	}
	// Values that mean the same in both formats are kept.
	if st.Inspected != 1 || st.Elapsed != time.Second {
		t.Errorf("inspected %d elapsed %v, want 1 and 1s", st.Inspected, st.Elapsed)
	}
	// And a backup judged on it fails instead of trusting a number.
	if v := judge(classBackup, 0, st, err, nil); v.ok || v.kind != KindFailed {
		t.Errorf("judge = %+v, want a KindFailed failure", v)
	}

	st, err = ParseStats(germanLabels)
	if err != nil {
		t.Fatalf("translated labels should simply not be found: %v", err)
	}
	if len(st.Present) != 0 {
		t.Errorf("Present = %v from translated labels", st.Present)
	}
	if v := judge(classBackup, 0, st, err, nil); v.ok || v.kind != KindFailed {
		t.Errorf("judge = %+v, want a KindFailed failure", v)
	}
}

func TestParseStatsRejectsMalformedValues(t *testing.T) {
	for _, out := range []string{
		"Total number of objects restored:   one\n",
		"Total number of objects restored:\n",
		"Total number of objects failed:   -1\n",
		"Total number of bytes transferred:   12 parsecs\n",
		"Elapsed processing time:   00:61:00\n",
		"Elapsed processing time:   1 day\n",
	} {
		if st, err := ParseStats(out); err == nil {
			t.Errorf("ParseStats(%q) = %+v, want an error", out, st)
		}
	}
}
