package tsm

import "fmt"

// ParseQueryBackup reads the table of `dsmc query backup`:
//
//	Size      Backup Date        Mgmt Class A/I File
//	----      -----------        ---------- --- ----
//	0  B  07/13/2010 02:15:05    PERMANENT   A  /daitssfs/023/000/.lock
//
// A row is found by its tokens, not by columns: a size (with a unit since
// 5.x clients, bare bytes before), a date and a time, the management class,
// A or I, and the rest of the line as the name, which may contain blanks.
// Lines that do not start with a digit followed by something date- and
// time-like (banner, headers, -detail continuation lines) are passed over.
// A line that does look like a row but does not parse is returned in skipped
// ("line N: reason: text"), so that the caller can log and count it.
func ParseQueryBackup(out string) (objs []Object, skipped []string) {
	for n, line := range splitLines(out) {
		toks := tokenize(line)
		if len(toks) < 2 || !startsWithDigit(toks[0].text) {
			continue
		}
		dt := findDateTime(toks, 1)
		if dt < 0 {
			continue
		}
		o, err := parseBackupRow(line, toks, dt)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("query backup line %d: %v: %q", n+1, err, line))
			continue
		}
		objs = append(objs, o)
	}
	return objs, skipped
}

func parseBackupRow(line string, toks []token, dt int) (Object, error) {
	var o Object
	var err error
	switch dt {
	case 1:
		o.Size, err = parseBytes(toks[0].text, "")
	case 2:
		o.Size, err = parseBytes(toks[0].text, toks[1].text)
	default:
		return o, fmt.Errorf("expected size [unit] before the date")
	}
	if err != nil {
		return o, err
	}
	var ok bool
	if o.BackupTime, ok = parseDateTime(toks[dt].text, toks[dt+1].text); !ok {
		return o, fmt.Errorf("unreadable date/time %q %q", toks[dt].text, toks[dt+1].text)
	}
	rest := toks[dt+2:]
	if len(rest) < 3 {
		return o, fmt.Errorf("expected management class, A/I and name after the time")
	}
	o.MgmtClass = rest[0].text
	if o.Active, ok = parseAI(rest[1].text); !ok {
		return o, fmt.Errorf("expected A or I, got %q", rest[1].text)
	}
	o.Name = line[rest[2].start:]
	return o, nil
}

func parseAI(s string) (active, ok bool) {
	switch s {
	case "A":
		return true, true
	case "I":
		return false, true
	}
	return false, false
}
