package tsm

import (
	"errors"
	"testing"
)

// st builds Stats from counter/value pairs; only the named counters are
// present.
func st(kv ...any) Stats {
	s := Stats{Present: map[string]bool{}}
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i].(string), int64(kv[i+1].(int))
		s.Present[k] = true
		switch k {
		case CounterBackedUp:
			s.BackedUp = v
		case CounterRestored:
			s.Restored = v
		case CounterDeleted:
			s.Deleted = v
		case CounterFailed:
			s.Failed = v
		case CounterInspected:
			s.Inspected = v
		}
	}
	return s
}

func msgs(ids ...string) []Message {
	var out []Message
	for _, id := range ids {
		out = append(out, Message{ID: id, Severity: id[7], Text: "text of " + id})
	}
	return out
}

// The rc x statistics x messages table behind the rules written down in
// judge's doc comment and the README.
func TestJudge(t *testing.T) {
	const ok = Kind(-1) // marks a success in the table
	const empty = Kind(-2)
	badStats := errors.New("Total number of objects backed up: not an en_US number")
	for _, tc := range []struct {
		name  string
		class opClass
		rc    int
		st    Stats
		stErr error
		msgs  []Message
		want  Kind
	}{
		// backup
		{"backup rc0 one object", classBackup, 0, st(CounterBackedUp, 1, CounterFailed, 0), nil, nil, ok},
		{"backup rc0 with parent directories", classBackup, 0, st(CounterBackedUp, 3), nil, nil, ok},
		{"backup rc0 nothing backed up", classBackup, 0, st(CounterBackedUp, 0, CounterFailed, 0), nil, nil, KindFailed},
		{"backup rc0 no statistics", classBackup, 0, st(), nil, nil, KindFailed},
		{"backup rc0 a failed object", classBackup, 0, st(CounterBackedUp, 1, CounterFailed, 1), nil, nil, KindFailed},
		{"backup rc0 unreadable statistics", classBackup, 0, st(CounterFailed, 0), badStats, nil, KindFailed},
		{"backup rc0 stale password answered from the file", classBackup, 0, st(CounterBackedUp, 1), nil, msgs("ANS1051I"), ok},
		{"backup rc4 our object sent", classBackup, 4, st(CounterBackedUp, 1, CounterFailed, 0), nil, nil, ok},
		{"backup rc4 object skipped, a directory sent", classBackup, 4, st(CounterBackedUp, 1), nil, msgs("ANS4037E"), KindFailed},
		{"backup rc4 nothing sent", classBackup, 4, st(CounterBackedUp, 0), nil, nil, KindFailed},
		{"backup rc4 object excluded, its directory counted", classBackup, 4, st(CounterBackedUp, 1, CounterFailed, 0), nil, msgs("ANS1115W"), KindUnverified},
		{"backup rc12 all sessions in use", classBackup, 12, st(), nil, msgs("ANS1351E"), KindBusy},
		{"restore rc12 no mount point", classRestore, 12, st(), nil, msgs("ANS0326E"), KindBusy},
		{"backup rc8 warning only", classBackup, 8, st(CounterBackedUp, 1), nil, msgs("ANS1213W"), ok},
		{"backup rc8 without statistics", classBackup, 8, st(), nil, msgs("ANS1213W"), KindFailed},
		{"backup rc8 with an error message", classBackup, 8, st(CounterBackedUp, 1), nil, msgs("ANS1228E"), KindFailed},
		{"backup rc12 even with counters", classBackup, 12, st(CounterBackedUp, 1), nil, nil, KindFailed},
		{"backup rc12 sending failed", classBackup, 12, st(CounterInspected, 1), nil, msgs("ANS1228E", "ANS1063E"), KindFailed},
		{"backup rc12 connection", classBackup, 12, st(), nil, msgs("ANS1017E"), KindConnection},
		{"backup rc12 password prompt impossible", classBackup, 12, st(), nil, msgs("ANS2050E", "ANS2050E", "ANS1029E"), KindNoPassword},
		{"backup rc12 server full then session lost", classBackup, 12, st(), nil, msgs("ANS1311E", "ANS1029E"), KindNoSpace},
		{"backup rc12 no-match is not not-found for a backup", classBackup, 12, st(), nil, msgs("ANS1345E"), KindFailed},
		{"backup rc0 but error message", classBackup, 0, st(CounterBackedUp, 1), nil, msgs("ANS1029E"), KindConnection},
		{"backup rc255", classBackup, 255, st(CounterBackedUp, 1), nil, nil, KindUnknown},
		{"backup rc-1", classBackup, -1, st(), nil, nil, KindUnknown},
		{"backup rc1 connection", classBackup, 1, st(), nil, msgs("ANS1017E"), KindConnection},

		// restore
		{"restore rc0 one object", classRestore, 0, st(CounterRestored, 1, CounterFailed, 0), nil, nil, ok},
		{"restore rc0 nothing restored", classRestore, 0, st(CounterRestored, 0, CounterFailed, 0), nil, nil, KindFailed},
		{"restore rc0 no statistics", classRestore, 0, st(), nil, nil, KindFailed},
		{"restore rc0 failed object", classRestore, 0, st(CounterRestored, 1, CounterFailed, 1), nil, nil, KindFailed},
		{"restore rc4 restored", classRestore, 4, st(CounterRestored, 1, CounterFailed, 0), nil, nil, ok},
		{"restore rc4 skipped", classRestore, 4, st(CounterRestored, 0, CounterFailed, 0), nil, nil, KindFailed},
		{"restore rc8 restored with warning", classRestore, 8, st(CounterRestored, 1), nil, msgs("ANS1247W"), ok},
		{"restore rc8 nothing matched", classRestore, 8, st(), nil, msgs("ANS1092W"), KindNotFound},
		{"restore rc12 file space does not exist", classRestore, 12, st(), nil, msgs("ANS4000E"), KindNotFound},
		{"restore rc12 no objects match", classRestore, 12, st(), nil, msgs("ANS1345E"), KindNotFound},
		{"restore rc12 no match plus another error", classRestore, 12, st(), nil, msgs("ANS1345E", "ANS1228E"), KindFailed},
		{"restore rc12 no match plus connection loss", classRestore, 12, st(), nil, msgs("ANS1345E", "ANS1029E"), KindConnection},
		{"restore rc12 restartable restore pending", classRestore, 12, st(), nil, msgs("ANS1247I", "ANS1330S"), KindRestartPending},
		{"restore rc255 no match", classRestore, 255, st(), nil, msgs("ANS1345E"), KindUnknown},
		{"delete rc255 no match", classDelete, 255, st(), nil, msgs("ANS1345E"), KindUnknown},

		// delete
		{"delete rc0 without statistics", classDelete, 0, st(), nil, nil, ok},
		{"delete rc0 deleted one", classDelete, 0, st(CounterDeleted, 1, CounterFailed, 0), nil, nil, ok},
		{"delete rc0 deleted none", classDelete, 0, st(CounterDeleted, 0), nil, nil, KindFailed},
		{"delete rc0 failed one", classDelete, 0, st(CounterDeleted, 1, CounterFailed, 1), nil, nil, KindFailed},
		{"delete rc0 no statistics but no match", classDelete, 0, st(), nil, msgs("ANS1092W"), KindNotFound},
		{"delete rc4 deleted one", classDelete, 4, st(CounterDeleted, 1), nil, nil, ok},
		{"delete rc4 without statistics", classDelete, 4, st(), nil, nil, KindFailed},
		{"delete rc8 deleted one with warning", classDelete, 8, st(CounterDeleted, 1), nil, msgs("ANS1213W"), ok},
		{"delete rc8 without statistics", classDelete, 8, st(), nil, msgs("ANS1213W"), KindFailed},
		{"delete rc8 nothing matched", classDelete, 8, st(), nil, msgs("ANS1092W"), KindNotFound},
		{"delete rc12 no objects match", classDelete, 12, st(), nil, msgs("ANS1345E"), KindNotFound},
		{"delete rc12 file space does not exist", classDelete, 12, st(), nil, msgs("ANS4000E"), KindNotFound},
		{"delete rc12 no match and auth", classDelete, 12, st(), nil, msgs("ANS1025E", "ANS1345E"), KindAuth},
		{"delete rc12 no authority", classDelete, 12, st(), nil, msgs("ANS1126E"), KindFailed},
		{"delete rc12 even with counters", classDelete, 12, st(CounterDeleted, 1), nil, nil, KindFailed},

		// query
		{"query rc0", classQuery, 0, st(), nil, nil, ok},
		{"query rc4", classQuery, 4, st(), nil, nil, ok},
		{"query rc8 harmless warning", classQuery, 8, st(), nil, msgs("ANS1213W"), ok},
		{"query rc8 no files matching", classQuery, 8, st(), nil, msgs("ANS1092W"), empty},
		{"query rc8 no files matching (4.2)", classQuery, 8, st(), nil, msgs("ANS1092E"), empty},
		{"query rc12 no objects match", classQuery, 12, st(), nil, msgs("ANS1302E"), empty},
		{"query rc12 no match plus connection loss", classQuery, 12, st(), nil, msgs("ANS1092W", "ANS1029E"), KindConnection},
		{"query rc12 connection", classQuery, 12, st(), nil, msgs("ANS1017E"), KindConnection},
		{"query rc12 unexplained", classQuery, 12, st(), nil, nil, KindFailed},
		{"query rc8 error message", classQuery, 8, st(), nil, msgs("ANS1081E"), KindFailed},
		{"query rc255 no match", classQuery, 255, st(), nil, msgs("ANS1092W"), KindUnknown},

		// session
		{"session rc0", classSession, 0, st(), nil, nil, ok},
		{"session rc0 after a stale stored password", classSession, 0, st(), nil, msgs("ANS1051I"), ok},
		{"session rc8 with error", classSession, 8, st(), nil, msgs("ANS1035S"), KindFailed},
		{"session rc12 authentication", classSession, 12, st(), nil, msgs("ANS1025E"), KindAuth},
		{"session rc12 tcp", classSession, 12, st(), nil, msgs("ANS1017E"), KindConnection},
		{"session rc12 unknown server stanza", classSession, 12, st(), nil, msgs("ANS1217E"), KindConnection},
		{"session rc137", classSession, 137, st(), nil, nil, KindUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.class, tc.rc, tc.st, tc.stErr, tc.msgs)
			switch tc.want {
			case ok:
				if !v.ok || v.noRows {
					t.Fatalf("verdict %+v, want success", v)
				}
			case empty:
				if !v.ok || !v.noRows {
					t.Fatalf("verdict %+v, want an empty query result", v)
				}
			default:
				if v.ok || v.kind != tc.want {
					t.Fatalf("verdict %+v, want failure %v", v, tc.want)
				}
				if v.detail == "" {
					t.Errorf("failure without detail")
				}
			}
		})
	}
}
