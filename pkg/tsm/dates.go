package tsm

import (
	"regexp"
	"strconv"
	"time"
)

// Dates in tables follow DATEFORMAT. The driver passes -dateformat=3 (ISO),
// but a dsm.opt or an older client may win, so every unambiguous format is
// read: 1 MM/DD/YYYY (and the two-digit year of 4.x clients), 2 DD-MM-YYYY,
// 3 YYYY-MM-DD, 4 DD.MM.YYYY, 5 YYYY.MM.DD, YYYY/MM/DD. A day/month order
// that cannot be told from the separators (DD/MM/YYYY) is read as format 1;
// an impossible date is an error.
var dateFormats = []struct {
	re        *regexp.Regexp
	y, m, d   int // submatch indexes
	shortYear bool
}{
	{re: regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`), y: 1, m: 2, d: 3},
	{re: regexp.MustCompile(`^(\d{1,2})/(\d{1,2})/(\d{4})$`), y: 3, m: 1, d: 2},
	{re: regexp.MustCompile(`^(\d{1,2})/(\d{1,2})/(\d{2})$`), y: 3, m: 1, d: 2, shortYear: true},
	{re: regexp.MustCompile(`^(\d{1,2})-(\d{1,2})-(\d{4})$`), y: 3, m: 2, d: 1},
	{re: regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4})$`), y: 3, m: 2, d: 1},
	{re: regexp.MustCompile(`^(\d{4})\.(\d{1,2})\.(\d{1,2})$`), y: 1, m: 2, d: 3},
	{re: regexp.MustCompile(`^(\d{4})/(\d{1,2})/(\d{1,2})$`), y: 1, m: 2, d: 3},
}

var timeRe = regexp.MustCompile(`^(\d{1,2})[:.](\d{2})[:.](\d{2})$`)

type ymd struct{ y, m, d int }

func parseDate(s string) (ymd, bool) {
	for _, f := range dateFormats {
		m := f.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		y, _ := strconv.Atoi(m[f.y])
		mo, _ := strconv.Atoi(m[f.m])
		d, _ := strconv.Atoi(m[f.d])
		if f.shortYear {
			if y < 70 {
				y += 2000
			} else {
				y += 1900
			}
		}
		// Nothing was backed up before 1970; a year 0 is noise.
		if y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 {
			return ymd{}, false
		}
		if t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC); t.Day() != d {
			return ymd{}, false
		}
		return ymd{y, mo, d}, true
	}
	return ymd{}, false
}

func parseClock(s string) (h, m, sec int, ok bool) {
	r := timeRe.FindStringSubmatch(s)
	if r == nil {
		return 0, 0, 0, false
	}
	h, _ = strconv.Atoi(r[1])
	m, _ = strconv.Atoi(r[2])
	sec, _ = strconv.Atoi(r[3])
	if h > 23 || m > 59 || sec > 59 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// parseDateTime reads a date and a time token; dsmc prints the client's
// local time, so the result is in time.Local.
func parseDateTime(date, clock string) (time.Time, bool) {
	d, ok := parseDate(date)
	if !ok {
		return time.Time{}, false
	}
	h, m, s, ok := parseClock(clock)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(d.y, time.Month(d.m), d.d, h, m, s, 0, time.Local), true
}

// findDateTime returns the index of the first pair of tokens at or after
// from that look like a date and a time, or -1. The test is loose on
// purpose: a row whose date is in an unknown or impossible shape must be
// found and then rejected by parseDateTime, not skipped as if it were not a
// row.
func findDateTime(toks []token, from int) int {
	for i := from; i+1 < len(toks); i++ {
		if looksLikeDateRe.MatchString(toks[i].text) && looksLikeTimeRe.MatchString(toks[i+1].text) {
			return i
		}
	}
	return -1
}

var (
	looksLikeDateRe = regexp.MustCompile(`^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$`)
	looksLikeTimeRe = regexp.MustCompile(`^\d{1,2}[:.,]\d{1,2}[:.,]\d{1,2}$`)
)
