package tsm

import (
	"errors"
	"testing"
)

func TestParseCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"6,491", 6491, true},               // sample 06, restore
		{"4,719,746", 4719746, true},        // dsmc.md §2.3
		{"1,244,997,334", 1244997334, true}, // sample 04
		{"1234", 1234, true},                // no separator at all
		{"6.491", 0, false},                 // de_DE thousands separator
		{"202.784.104", 0, false},           // de_DE, dsmc.md §2.4
		{"1 234", 0, false},                 // fr/NUMBERFORMAT 3
		{"1\u202f234", 0, false},            // narrow no-break space
		{"1'234", 0, false},                 // de_CH
		{"12,34", 0, false},                 // not a group of three
		{",123", 0, false},
		{"1,2345", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false}, // overflow
	} {
		got, err := parseCount(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseCount(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, errNumber) {
			t.Errorf("parseCount(%q) error %v does not wrap errNumber", tc.in, err)
		}
	}
}

func TestParseByteValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0  B", 0, true},                         // 8.1.7 prints a two-column unit
		{"607  B", 607, true},                     // sample 04
		{"72,191  B", 72191, true},                // sample 08
		{"19,251,200  B", 19251200, true},         // sample 09
		{"442.62 KB", 453243, true},               // 442.62*1024 = 453242.88, sample 06
		{"442.80 KB", 453427, true},               // 453427.2
		{"2.37 GB", 2544768123, true},             // 2.37*2^30 = 2544768122.88, sample 06
		{"8.00 MB", 8 << 20, true},                // exact for whole units
		{"1,244,997,334 KB", 1274877270016, true}, // sample 04, KB without decimals
		{"7,055.12 KB", 7224443, true},            // 7055.12*1024 = 7224442.88
		{"1.50 TB", 1649267441664, true},          // 1.5*2^40
		{"1234", 1234, true},                      // bare bytes
		{"2,37 GB", 0, false},                     // de_DE decimal comma
		{"1.234,56 KB", 0, false},                 // de_DE
		{"1.244 KB", 0, false},                    // de_DE 1244 KB would read as 1.244 KB
		{"202.784.104  B", 0, false},              // de_DE, dsmc.md §2.4
		{"1 024,00 KB", 0, false},                 // fr
		{"1.5 KB", 0, false},                      // dsmc prints two decimals
		{"12.00  B", 0, false},                    // bytes are never fractional
		{"3.00 XB", 0, false},                     // unknown unit
		{"KB", 0, false},                          // no number
		{"1 2 KB", 0, false},                      // too many fields
		{"9,999,999,999,999 PB", 0, false},        // overflow
		{"", 0, false},
	} {
		got, err := parseByteValue(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseByteValue(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	for _, tc := range []struct {
		date, clock string
		y, m, d     int
		ok          bool
	}{
		{"2024-09-13", "08:00:00", 2024, 9, 13, true}, // dateformat 3, sample 03
		{"09/24/2018", "10:33:00", 2018, 9, 24, true}, // dateformat 1, sample 02
		{"24-04-2012", "02:52:09", 2012, 4, 24, true}, // dateformat 2, sample 05
		{"01/28/03", "00:30:28", 2003, 1, 28, true},   // 4.2 client, sample 10
		{"06.03.2019", "08:56:33", 2019, 3, 6, true},  // dateformat 4, dsmc.md §2.4
		{"2019.03.06", "08:56:33", 2019, 3, 6, true},  // dateformat 5
		{"2019/03/06", "08:56:33", 2019, 3, 6, true},
		{"2021-02-30", "00:00:00", 0, 0, 0, false}, // impossible date
		{"13/24/2018", "10:33:00", 0, 0, 0, false}, // month 13
		{"2024-09-13", "25:00:00", 0, 0, 0, false},
		{"2024-09-13", "8:00", 0, 0, 0, false},
		{"20240913", "08:00:00", 0, 0, 0, false},
		{"0000-01-01", "00:00:00", 0, 0, 0, false}, // found by fuzzing
		{"1/1/0000", "00:00:00", 0, 0, 0, false},
	} {
		got, ok := parseDateTime(tc.date, tc.clock)
		if ok != tc.ok {
			t.Errorf("parseDateTime(%q, %q) ok = %v, want %v", tc.date, tc.clock, ok, tc.ok)
			continue
		}
		if ok && (got.Year() != tc.y || int(got.Month()) != tc.m || got.Day() != tc.d) {
			t.Errorf("parseDateTime(%q, %q) = %v, want %04d-%02d-%02d", tc.date, tc.clock, got, tc.y, tc.m, tc.d)
		}
	}
}
