package tsm

import "fmt"

// ParseQueryImage reads the table of `dsmc query image`. No captured output
// of a real client was available (dsmc.md §1.4, UNVERIFIED), so the row is
// read from anchors rather than a layout: the date and time tokens; before
// them an optional row number, the image size, the stored size (each a
// number with an optional unit) and the file system type; after them the
// management class, A or I, and the rest of the line as the image name.
// The believed layout is
//
//	  Image Size  Stored Size FSType    Backup Date           Mgmt Class A/I Image Name
//	  ----------  ----------- ------    -------------------   ---------- --- ----------
//	1   10.00 GB     10.00 GB RAW       05/03/2021 10:11:12   DEFAULT     A  /dev/backup-1234
//
// A line starting with a digit that has a date and a time followed within
// two tokens by A or I is a row. A row that does not parse is returned in
// skipped ("line N: reason: text") instead of failing the whole listing: one
// row of an unknown shape must not hide every other snapshot. Callers that
// look for one object treat a skipped row as "could not tell".
func ParseQueryImage(out string) (objs []Object, skipped []string) {
	for n, line := range splitLines(out) {
		toks := tokenize(line)
		if len(toks) < 2 || !startsWithDigit(toks[0].text) {
			continue
		}
		dt := findDateTime(toks, 1)
		if dt < 0 {
			continue
		}
		ai := -1
		for i := dt + 2; i < len(toks) && i <= dt+3; i++ {
			if _, ok := parseAI(toks[i].text); ok {
				ai = i
				break
			}
		}
		if ai < 0 {
			continue
		}
		o, err := parseImageRow(line, toks, dt, ai)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("query image line %d: %v: %q", n+1, err, line))
			continue
		}
		objs = append(objs, o)
	}
	return objs, skipped
}

// sizeItem is a number, with its unit when one follows.
type sizeItem struct {
	num, unit string
}

func parseImageRow(line string, toks []token, dt, ai int) (Object, error) {
	var o Object
	var sizes []sizeItem
	var words []string
	pre := toks[:dt]
	for i := 0; i < len(pre); i++ {
		t := pre[i].text
		switch {
		case startsWithDigit(t):
			it := sizeItem{num: t}
			if i+1 < len(pre) && isUnit(pre[i+1].text) {
				it.unit = pre[i+1].text
				i++
			}
			sizes = append(sizes, it)
		default:
			words = append(words, t)
		}
	}
	if len(words) > 1 {
		return o, fmt.Errorf("expected at most one file system type before the date, got %q", words)
	}
	if len(words) == 1 {
		o.FSType = words[0]
	}
	// A leading bare integer is the row number when it is followed by one or
	// two sizes with units, or when there are three numbers in all.
	if len(sizes) == 3 || (len(sizes) == 2 && sizes[0].unit == "" && sizes[1].unit != "") {
		if _, err := parseCount(sizes[0].num); err != nil || sizes[0].unit != "" {
			return o, fmt.Errorf("unexpected numbers before the date")
		}
		sizes = sizes[1:]
	}
	var err error
	switch len(sizes) {
	case 1:
		if o.Size, err = parseBytes(sizes[0].num, sizes[0].unit); err != nil {
			return o, err
		}
		o.StoredSize = o.Size
	case 2:
		if o.Size, err = parseBytes(sizes[0].num, sizes[0].unit); err != nil {
			return o, err
		}
		if o.StoredSize, err = parseBytes(sizes[1].num, sizes[1].unit); err != nil {
			return o, err
		}
	default:
		return o, fmt.Errorf("expected one or two sizes before the date, found %d", len(sizes))
	}
	var ok bool
	if o.BackupTime, ok = parseDateTime(toks[dt].text, toks[dt+1].text); !ok {
		return o, fmt.Errorf("unreadable date/time %q %q", toks[dt].text, toks[dt+1].text)
	}
	if ai == dt+3 {
		o.MgmtClass = toks[dt+2].text
	}
	o.Active, _ = parseAI(toks[ai].text)
	if ai+1 >= len(toks) {
		return o, fmt.Errorf("no image name after A/I")
	}
	o.Name = line[toks[ai+1].start:]
	return o, nil
}
