package tsm

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Keys of Stats.Present.
const (
	CounterInspected        = "inspected"
	CounterBackedUp         = "backed up"
	CounterRestored         = "restored"
	CounterDeleted          = "deleted"
	CounterFailed           = "failed"
	CounterBytesInspected   = "bytes inspected"
	CounterBytesTransferred = "bytes transferred"
	CounterElapsed          = "elapsed"
)

// Stats is dsmc's final statistics block. Present tells a counter that was
// printed as 0 from one that was not printed at all.
type Stats struct {
	Inspected, BackedUp, Restored, Deleted, Failed int64
	BytesInspected, BytesTransferred               int64
	Elapsed                                        time.Duration
	Present                                        map[string]bool
}

// statLabels maps a normalised label to the counter it fills. Every other
// "label: value" line (rates, ratios, version-specific extras, banner
// lines) is ignored.
var statLabels = map[string]string{
	"total number of objects inspected": CounterInspected,
	"total number of objects backed up": CounterBackedUp,
	"total number of objects restored":  CounterRestored,
	"total number of objects deleted":   CounterDeleted,
	"total number of objects failed":    CounterFailed,
	"total number of bytes inspected":   CounterBytesInspected,
	"total number of bytes transferred": CounterBytesTransferred,
	"elapsed processing time":           CounterElapsed,
}

var elapsedRe = regexp.MustCompile(`^(\d+):(\d{2}):(\d{2})$`)

// ParseStats reads the statistics block by label, never by column. A line
// counts when its text before the first colon, with blanks collapsed and
// case ignored, is a known label. If a label appears more than once the
// last one wins (the final summary is printed last). A known label whose
// value is not in the en_US shape makes the whole result an error: a
// number read in the wrong locale must never be trusted.
func ParseStats(out string) (Stats, error) {
	st := Stats{Present: map[string]bool{}}
	var errs []error
	bad := map[string]error{}
	for _, line := range splitLines(out) {
		label, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, known := statLabels[normLabel(label)]
		if !known {
			continue
		}
		value = strings.TrimSpace(value)
		if err := st.set(key, value); err != nil {
			bad[key] = fmt.Errorf("%s: %w", strings.TrimSpace(label), err)
			st.Present[key] = false
			continue
		}
		delete(bad, key)
		st.Present[key] = true
	}
	for _, key := range []string{CounterInspected, CounterBackedUp, CounterRestored, CounterDeleted,
		CounterFailed, CounterBytesInspected, CounterBytesTransferred, CounterElapsed} {
		if err, ok := bad[key]; ok {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

func (st *Stats) set(key, value string) error {
	var err error
	switch key {
	case CounterInspected:
		st.Inspected, err = parseCount(value)
	case CounterBackedUp:
		st.BackedUp, err = parseCount(value)
	case CounterRestored:
		st.Restored, err = parseCount(value)
	case CounterDeleted:
		st.Deleted, err = parseCount(value)
	case CounterFailed:
		st.Failed, err = parseCount(value)
	case CounterBytesInspected:
		st.BytesInspected, err = parseByteValue(value)
	case CounterBytesTransferred:
		st.BytesTransferred, err = parseByteValue(value)
	case CounterElapsed:
		st.Elapsed, err = parseElapsed(value)
	}
	return err
}

func parseElapsed(s string) (time.Duration, error) {
	m := elapsedRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not HH:MM:SS: %q", s)
	}
	h, err := strconv.ParseInt(m[1], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("hours out of range: %q", s)
	}
	mi, _ := strconv.Atoi(m[2])
	sec, _ := strconv.Atoi(m[3])
	if mi > 59 || sec > 59 {
		return 0, fmt.Errorf("not HH:MM:SS: %q", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second, nil
}

func normLabel(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, isSpace), " "))
}
