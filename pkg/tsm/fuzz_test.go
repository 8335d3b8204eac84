package tsm

import (
	"regexp"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (the sample outputs and the
// constructed cases of the parser tests); `go test` runs them, and
// `go test -fuzz=FuzzParseStats` explores from them.

var messageIDRe = regexp.MustCompile(`^ANS\d{4}[IWES]$`)

func FuzzParseStats(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStats(s)
		values := map[string]int64{
			CounterInspected: st.Inspected, CounterBackedUp: st.BackedUp, CounterRestored: st.Restored,
			CounterDeleted: st.Deleted, CounterFailed: st.Failed, CounterBytesInspected: st.BytesInspected,
			CounterBytesTransferred: st.BytesTransferred, CounterElapsed: int64(st.Elapsed),
		}
		for k, v := range values {
			if v < 0 {
				t.Errorf("%s = %d < 0", k, v)
			}
			if !st.Present[k] && v != 0 {
				t.Errorf("%s = %d but not present", k, v)
			}
		}
		for k := range st.Present {
			if _, known := values[k]; !known {
				t.Errorf("unknown Present key %q", k)
			}
		}
		st2, err2 := ParseStats(s)
		if (err == nil) != (err2 == nil) || st2.BackedUp != st.BackedUp || st2.BytesTransferred != st.BytesTransferred {
			t.Errorf("not deterministic")
		}
	})
}

func FuzzParseMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		msgs := ParseMessages(s)
		if len(msgs) > strings.Count(s, "\n")+strings.Count(s, "\r")+1 {
			t.Errorf("%d messages from %d lines", len(msgs), strings.Count(s, "\n")+1)
		}
		for _, m := range msgs {
			if !messageIDRe.MatchString(m.ID) || m.Severity != m.ID[7] {
				t.Errorf("bad message %+v", m)
			}
			if strings.ContainsAny(m.Text, "\r\n") || m.Text != strings.TrimSpace(m.Text) {
				t.Errorf("bad text %q", m.Text)
			}
			if !strings.Contains(s, m.ID) {
				t.Errorf("id %s is not in the input", m.ID)
			}
		}
		// classification never panics and stays in range
		if k := classify(msgs); k != KindUnknown && k != KindAuth && k != KindRestartPending && k != KindNoSpace && k != KindConnection && k != KindBusy && k != KindNoPassword {
			t.Errorf("classify = %v", k)
		}
	})
}

func checkFuzzObjects(t *testing.T, in string, objs []Object) {
	t.Helper()
	for _, o := range objs {
		if o.Size < 0 || o.StoredSize < 0 {
			t.Errorf("negative size %+v", o)
		}
		if o.Name == "" || strings.ContainsAny(o.Name, "\r\n") || o.Name != strings.TrimFunc(o.Name, isSpace) {
			t.Errorf("bad name %q", o.Name)
		}
		if !strings.Contains(in, o.Name) {
			t.Errorf("name %q is not in the input", o.Name)
		}
		if o.BackupTime.IsZero() || o.BackupTime.Year() < 1900 {
			t.Errorf("bad time %v", o.BackupTime)
		}
		if strings.ContainsAny(o.MgmtClass+o.FSType, " \t\r\n") {
			t.Errorf("class/type with blanks %+v", o)
		}
	}
}

func FuzzParseQueryImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		objs, skipped := ParseQueryImage(s)
		for _, l := range skipped {
			if !strings.HasPrefix(l, "query image line ") {
				t.Errorf("skipped line %q", l)
			}
		}
		checkFuzzObjects(t, s, objs)
	})
}

func FuzzParseQueryBackup(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		objs, skipped := ParseQueryBackup(s)
		for _, l := range skipped {
			if !strings.HasPrefix(l, "query backup line ") {
				t.Errorf("skipped line %q", l)
			}
		}
		checkFuzzObjects(t, s, objs)
		for _, o := range objs {
			if o.StoredSize != 0 || o.FSType != "" {
				t.Errorf("query backup filled image fields: %+v", o)
			}
		}
	})
}

func FuzzParseQuerySession(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		sess, err := ParseQuerySession(s)
		if err != nil {
			if sess != nil {
				t.Errorf("session returned with an error")
			}
			return
		}
		if sess.Node == "" && sess.Server == "" {
			t.Errorf("success without node or server: %+v", sess)
		}
		for _, v := range []string{sess.Server, sess.ServerType, sess.ServerVersion, sess.Node, sess.User, sess.AccessingAs} {
			if strings.ContainsAny(v, "\r\n") {
				t.Errorf("field with a line break: %q", v)
			}
		}
	})
}
