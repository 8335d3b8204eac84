package tsm

import (
	"fmt"
	"strings"
)

// opClass groups dsmc commands that are judged alike.
type opClass int

const (
	classBackup  opClass = iota // backup image, selective
	classRestore                // restore image, restore
	classDelete                 // delete backup
	classQuery                  // query image, query backup
	classSession                // query session
)

// verdict is the outcome of judging one run.
type verdict struct {
	ok     bool
	noRows bool // a query reported that nothing matches (ok is true as well)
	kind   Kind
	detail string
}

// judge decides whether a run that ended by itself succeeded. It looks at
// the return code, the ANS messages and the statistics together, because
// none of them alone proves success: dsmc exits 0 when it had nothing to do
// and exits 8 for harmless warnings.
//
// A run succeeds only if all of these hold:
//
//   - the return code is 0, 4 or 8. 4 means "some files were skipped" and 8
//     "a warning was issued"; both are accepted only with the same proof as
//     0, so a skipped object can never pass. 12 and every other value are
//     always a failure (a query with nothing to list is the one exception,
//     see below).
//   - no message has severity E or S. dsmc maps those to rc 12, so this
//     only matters when the return code and the messages disagree, and then
//     the messages win.
//   - the statistics are readable (ParseStats returned no error) and prove
//     the operation:
//     backup:  "objects backed up" printed and >= 1, "objects failed" 0 or
//     absent (>= 1, not == 1: a file backup may add parent directories);
//     restore: "objects restored" printed and >= 1, "objects failed" 0 or
//     absent;
//     delete:  with rc 0, "objects deleted" >= 1 when printed (the real
//     delete output is not verified and may have no statistics), and with
//     rc 4 or 8, or when a message says nothing matched, it must be printed
//     and >= 1; "objects failed" 0 or absent;
//     query and session: no statistics needed.
//
// A query whose messages say that nothing matches (ANS1092W/E, ANS1302E,
// ANS1345E, ANS4000E) and carry no other error succeeds with rc 0, 4, 8 or
// 12 (ANS1092W comes with rc 8); its rows, usually none, are still read.
//
// A failure gets its Kind from the messages, strongest class first:
// auth > restart-pending > no-space > connection (see classPrecedence).
// Without one of those, a restore or delete whose only errors say that
// nothing matches is KindNotFound, provided the return code is one of
// dsmc's documented ones (0, 4, 8, 12). Anything else is KindFailed after a
// documented return code and KindUnknown after any other.
func judge(class opClass, rc int, st Stats, stErr error, msgs []Message) verdict {
	documented := rc == 0 || rc == 4 || rc == 8 || rc == 12
	errSev := hasErrorSeverity(msgs)

	if class == classQuery && documented && notFoundOnly(msgs) {
		return verdict{ok: true, noRows: true}
	}

	why := ""
	switch {
	case !documented:
		why = fmt.Sprintf("unexpected return code %d", rc)
	case rc == 12:
		why = "dsmc reported an error (rc 12)"
	case errSev:
		why = fmt.Sprintf("rc %d with an error message", rc)
	case class == classQuery || class == classSession:
		return verdict{ok: true}
	case class == classBackup && hasExcluded(msgs):
		// rc 4 with the parent directory counted as backed up looks like
		// success; the object itself was not sent.
		return verdict{kind: KindUnverified, detail: fmt.Sprintf("rc %d: the object was excluded by an include-exclude rule (client options or the server's client option set)", rc)}
	case stErr != nil:
		why = "statistics unreadable: " + stErr.Error()
	default:
		why = proveCounters(class, rc, st, msgs)
		if why == "" {
			return verdict{ok: true}
		}
	}

	v := verdict{detail: why, kind: classify(msgs)}
	if v.kind == KindUnknown {
		switch {
		case !documented:
			// KindUnknown: even a no-match message is not trusted after
			// a return code dsmc does not document.
		case (class == classRestore || class == classDelete) && notFoundOnly(msgs):
			v.kind = KindNotFound
		default:
			v.kind = KindFailed
		}
	}
	return v
}

// proveCounters returns why the statistics do not prove the operation, or
// "" when they do.
func proveCounters(class opClass, rc int, st Stats, msgs []Message) string {
	var problems []string
	need := func(key string, value int64) {
		switch {
		case !st.Present[key]:
			problems = append(problems, fmt.Sprintf("%q not printed", "objects "+key))
		case value < 1:
			problems = append(problems, fmt.Sprintf("%q is %d", "objects "+key, value))
		}
	}
	switch class {
	case classBackup:
		need(CounterBackedUp, st.BackedUp)
	case classRestore:
		need(CounterRestored, st.Restored)
	case classDelete:
		// A delete that printed no statistics passes on rc 0 alone, unless a
		// message says that nothing matched.
		if rc != 0 || st.Present[CounterDeleted] || hasNotFound(msgs) {
			need(CounterDeleted, st.Deleted)
		}
	}
	if st.Failed != 0 {
		problems = append(problems, fmt.Sprintf("\"objects failed\" is %d", st.Failed))
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("rc %d but %s", rc, strings.Join(problems, ", "))
}

func hasExcluded(msgs []Message) bool {
	for _, m := range msgs {
		if excludedIDs[m.ID] {
			return true
		}
	}
	return false
}
