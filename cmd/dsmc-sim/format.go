package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// formats turns numbers, sizes and times into text the way the client does for
// the active locale and the -numberformat/-dateformat/-timeformat options.
type formats struct {
	thousands string
	decimal   string
	dateFmt   int
	timeFmt   int
}

// numberFormats are the NUMBERFORMAT values 1..6 of the client options
// reference (value mapping unverified, see README).
var numberFormats = map[int][2]string{
	1: {",", "."},
	2: {",", ","},
	3: {" ", ","},
	4: {" ", "."},
	5: {".", ","},
	6: {"'", ","},
}

func newFormats(german bool, numberFmt, dateFmt, timeFmt int) *formats {
	f := &formats{dateFmt: dateFmt, timeFmt: timeFmt}
	if numberFmt == 0 {
		numberFmt = 1
		if german {
			numberFmt = 5
		}
	}
	nf := numberFormats[numberFmt]
	f.thousands, f.decimal = nf[0], nf[1]
	if f.dateFmt == 0 {
		f.dateFmt = 1
		if german {
			f.dateFmt = 4
		}
	}
	if f.timeFmt == 0 {
		f.timeFmt = 1
	}
	return f
}

func (f *formats) group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	lead := len(digits) % 3
	if lead > 0 {
		b.WriteString(digits[:lead])
	}
	for i := lead; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(f.thousands)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// count prints an integer with thousands separators: 6,491.
func (f *formats) count(n int64) string {
	if n < 0 {
		return "-" + f.group(strconv.FormatInt(-n, 10))
	}
	return f.group(strconv.FormatInt(n, 10))
}

// fixed prints x with prec decimals and thousands separators: 7,055.12.
func (f *formats) fixed(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	s := strconv.FormatFloat(math.Abs(x), 'f', prec, 64)
	ip, fp, _ := strings.Cut(s, ".")
	out := f.group(ip)
	if prec > 0 {
		out += f.decimal + fp
	}
	if x < 0 {
		out = "-" + out
	}
	return out
}

var byteUnits = []string{"B", "KB", "MB", "GB", "TB", "PB"}

// size scales a byte count the way the statistics block does: "0" "B",
// "442.62" "KB", "2.37" "GB" (1 KB = 1024 bytes).
func (f *formats) size(n int64) (string, string) {
	if n < 1024 {
		return f.count(n), "B"
	}
	x := float64(n)
	u := 0
	for x >= 1024 && u < len(byteUnits)-1 {
		x /= 1024
		u++
	}
	return f.fixed(x, 2), byteUnits[u]
}

// sizeText joins a scaled size with its unit in the two-column unit field the
// client uses: "0  B", "442.62 KB".
func (f *formats) sizeText(n int64) string {
	num, unit := f.size(n)
	return fmt.Sprintf("%s %2s", num, unit)
}

func (f *formats) date(t time.Time) string {
	y, m, d := t.Date()
	switch f.dateFmt {
	case 2:
		return fmt.Sprintf("%02d-%02d-%04d", d, m, y)
	case 3:
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	case 4:
		return fmt.Sprintf("%02d.%02d.%04d", d, m, y)
	case 5:
		return fmt.Sprintf("%04d.%02d.%02d", y, m, d)
	case 6:
		return fmt.Sprintf("%04d/%02d/%02d", y, m, d)
	case 7:
		return fmt.Sprintf("%02d/%02d/%04d", d, m, y)
	default:
		return fmt.Sprintf("%02d/%02d/%04d", m, d, y)
	}
}

func (f *formats) clock(t time.Time) string {
	h, mi, s := t.Clock()
	switch f.timeFmt {
	case 2:
		return fmt.Sprintf("%02d,%02d,%02d", h, mi, s)
	case 3:
		return fmt.Sprintf("%02d.%02d.%02d", h, mi, s)
	case 4:
		ap := "A"
		if h >= 12 {
			ap = "P"
		}
		h12 := h % 12
		if h12 == 0 {
			h12 = 12
		}
		return fmt.Sprintf("%02d:%02d:%02d%s", h12, mi, s, ap)
	default:
		return fmt.Sprintf("%02d:%02d:%02d", h, mi, s)
	}
}

func (f *formats) dateTime(t time.Time) string { return f.date(t) + " " + f.clock(t) }

// hms prints an elapsed time as HH:MM:SS.
func hms(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// parseDate reads a -pitdate value in the active date format.
func (f *formats) parseDate(s string) (y, m, d int, err error) {
	seps := func(r rune) bool { return r == '/' || r == '-' || r == '.' }
	parts := strings.FieldsFunc(s, seps)
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("bad date %q", s)
	}
	n := make([]int, 3)
	for i, p := range parts {
		if n[i], err = strconv.Atoi(p); err != nil {
			return 0, 0, 0, fmt.Errorf("bad date %q", s)
		}
	}
	switch f.dateFmt {
	case 2, 4, 7:
		d, m, y = n[0], n[1], n[2]
	case 3, 5, 6:
		y, m, d = n[0], n[1], n[2]
	default:
		m, d, y = n[0], n[1], n[2]
	}
	if m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 {
		return 0, 0, 0, fmt.Errorf("bad date %q", s)
	}
	return y, m, d, nil
}

// parseClock reads a -pittime value (any of the separators, optional A/P).
func parseClock(s string) (h, mi, sec int, err error) {
	s = strings.TrimSpace(s)
	pm, am := false, false
	if u := strings.ToUpper(s); strings.HasSuffix(u, "P") || strings.HasSuffix(u, "A") {
		pm, am = strings.HasSuffix(u, "P"), strings.HasSuffix(u, "A")
		s = s[:len(s)-1]
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == '.' })
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, 0, fmt.Errorf("bad time %q", s)
	}
	n := []int{0, 0, 0}
	for i, p := range parts {
		if n[i], err = strconv.Atoi(p); err != nil {
			return 0, 0, 0, fmt.Errorf("bad time %q", s)
		}
	}
	h, mi, sec = n[0], n[1], n[2]
	if pm && h < 12 {
		h += 12
	}
	if am && h == 12 {
		h = 0
	}
	if h > 23 || mi > 59 || sec > 59 {
		return 0, 0, 0, fmt.Errorf("bad time %q", s)
	}
	return h, mi, sec, nil
}
