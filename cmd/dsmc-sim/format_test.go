package main

import (
	"testing"
	"time"
)

func TestSizeAndCount(t *testing.T) {
	en := newFormats(false, 0, 0, 0)
	de := newFormats(true, 0, 0, 0)
	tests := []struct {
		f    *formats
		n    int64
		text string
	}{
		// Values from sample 06: 453,246 bytes print as 442.62 KB; 2.37 GB.
		{en, 453246, "442.62 KB"},
		{en, 0, "0  B"},
		{en, 1023, "1,023  B"},
		{en, 1024, "1.00 KB"},
		{en, 2544768204, "2.37 GB"},
		{en, 1 << 40, "1.00 TB"},
		{de, 453246, "442,62 KB"},
		{de, 1023, "1.023  B"},
	}
	for _, tc := range tests {
		if got := tc.f.sizeText(tc.n); got != tc.text {
			t.Errorf("sizeText(%d) = %q, want %q", tc.n, got, tc.text)
		}
	}
	counts := []struct {
		f    *formats
		n    int64
		text string
	}{
		{en, 6491, "6,491"}, {en, 4719746, "4,719,746"}, {en, 999, "999"}, {en, 1000, "1,000"},
		{de, 202784104, "202.784.104"}, {newFormats(false, 3, 0, 0), 1234567, "1 234 567"},
	}
	for _, tc := range counts {
		if got := tc.f.count(tc.n); got != tc.text {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.text)
		}
	}
	if got := en.fixed(254743.14, 2); got != "254,743.14" {
		t.Errorf("fixed = %q", got)
	}
	if got := de.fixed(7055.12, 2); got != "7.055,12" {
		t.Errorf("fixed de = %q", got)
	}
}

func TestDateTimeFormats(t *testing.T) {
	ts := time.Date(2024, 9, 13, 8, 5, 9, 0, time.Local)
	tests := []struct {
		date, tf int
		german   bool
		want     string
	}{
		{0, 0, false, "09/13/2024 08:05:09"}, // sample 02 style default
		{1, 1, false, "09/13/2024 08:05:09"},
		{2, 1, false, "13-09-2024 08:05:09"}, // sample 05
		{3, 1, false, "2024-09-13 08:05:09"}, // sample 03
		{4, 1, false, "13.09.2024 08:05:09"},
		{0, 0, true, "13.09.2024 08:05:09"}, // sample 15 (German locale)
		{3, 4, false, "2024-09-13 08:05:09A"},
	}
	for _, tc := range tests {
		f := newFormats(tc.german, 0, tc.date, tc.tf)
		if got := f.dateTime(ts); got != tc.want {
			t.Errorf("dateformat %d timeformat %d german %v: %q, want %q", tc.date, tc.tf, tc.german, got, tc.want)
		}
	}
	if got := hms(31 * time.Second); got != "00:00:31" {
		t.Errorf("hms = %q", got)
	}
	if got := hms(3*time.Hour + 2*time.Minute + 1*time.Second); got != "03:02:01" {
		t.Errorf("hms = %q", got)
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		fmt     int
		in      string
		y, m, d int
		bad     bool
	}{
		{1, "11/25/2008", 2008, 11, 25, false},
		{3, "2024-09-13", 2024, 9, 13, false},
		{2, "13-09-2024", 2024, 9, 13, false},
		{1, "13/25/2008", 0, 0, 0, true},
		{3, "2024-09", 0, 0, 0, true},
	}
	for _, tc := range tests {
		y, m, d, err := newFormats(false, 0, tc.fmt, 0).parseDate(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (y != tc.y || m != tc.m || d != tc.d)) {
			t.Errorf("parseDate(%d, %q) = %d-%d-%d %v", tc.fmt, tc.in, y, m, d, err)
		}
	}
	h, mi, s, err := parseClock("12:00:00")
	if err != nil || h != 12 || mi != 0 || s != 0 {
		t.Errorf("parseClock = %d:%d:%d %v", h, mi, s, err)
	}
	if h, _, _, err := parseClock("01:30:00P"); err != nil || h != 13 {
		t.Errorf("parseClock PM = %d %v", h, err)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, name string
		cross     bool
		want      bool
	}{
		{"/d/p-*", "/d/p-1", false, true},
		{"/d/p-*", "/d/p-1/x", false, false},
		{"/d/p-*", "/d/p-1/x", true, true},
		{"/d/p-?", "/d/p-12", false, false},
		{"/d/*", "/d/q", false, true},
		{"/d/*", "/e/q", false, false},
		{"/dev/backup-*", "/dev/backup-abc", false, true},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pat, tc.name, tc.cross); got != tc.want {
			t.Errorf("globMatch(%q, %q, %v) = %v", tc.pat, tc.name, tc.cross, got)
		}
	}
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec  string
		kind  string
		after int64
		count int
		bad   bool
	}{
		{spec: "connlost,after=1M,cmd=backup,count=2", kind: faultConnLost, after: 1 << 20, count: 2},
		{spec: "auth", kind: faultAuth, after: -1},
		{spec: "slow rate=4096 cmd=restore", kind: faultSlow, after: -1},
		{spec: "crash,after=512K,signal=TERM", kind: faultCrash, after: 512 << 10},
		{spec: "slow", bad: true},
		{spec: "explode", bad: true},
		{spec: "hang,cmd=sideways", bad: true},
		{spec: "auth,count=0", bad: true},
	}
	for _, tc := range tests {
		f, err := parseFault(tc.spec)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: want error", tc.spec)
			}
			continue
		}
		if err != nil || f.kind != tc.kind || f.after != tc.after || f.count != tc.count {
			t.Errorf("%q: got %+v %v", tc.spec, f, err)
		}
	}
}
