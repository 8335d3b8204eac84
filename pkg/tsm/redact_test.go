package tsm

import (
	"context"
	"strings"
	"testing"
)

// A password that is also a word dsmc prints must not change what the client reads from the
// output: redaction happens only where text leaves the package. Before this rule, a password
// "Total" blanked out the statistics lines and every backup was judged failed.
func TestPasswordThatIsADsmcWordIsParsedRaw(t *testing.T) {
	for _, pw := range []string{"Total", "objects", "backed", "1"} {
		t.Run(pw, func(t *testing.T) {
			c := NewClient(Config{PasswordFile: writePasswordFile(t, pw+"\n")}, &fakeRunner{respond: answer(0, okBackup, "")})
			res, err := c.BackupFile(context.Background(), "/state/tsm/backup-x")
			if err != nil {
				t.Fatalf("backup judged failed: %v", err)
			}
			if res.Stats.BackedUp != 1 {
				t.Errorf("stats = %+v, want one object backed up", res.Stats)
			}
			if strings.Contains(res.Output.Stdout, pw) {
				t.Errorf("the output that leaves the client still holds the password: %q", res.Output.Stdout)
			}
		})
	}
}

// A failed run still never carries the password, in its messages or its output.
func TestPasswordRedactedFromFailureMessages(t *testing.T) {
	const pw = "Communication"
	c := NewClient(Config{PasswordFile: writePasswordFile(t, pw+"\n")},
		&fakeRunner{respond: answer(12, "ANS1029E Communication with the IBM Storage Protect server is lost.\n", "")})
	_, err := c.BackupFile(context.Background(), "/state/tsm/backup-x")
	if err == nil {
		t.Fatal("a lost connection was judged a success")
	}
	if KindOf(err) != KindConnection {
		t.Errorf("kind = %v, want the message to be judged before redaction", KindOf(err))
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error holds the password: %v", err)
	}
	for _, m := range err.(*Error).Messages {
		if strings.Contains(m.Text, pw) {
			t.Errorf("message holds the password: %q", m.Text)
		}
	}
}
