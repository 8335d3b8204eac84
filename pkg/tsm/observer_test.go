package tsm

import (
	"context"
	"testing"
)

// TestClientObserver: the observer sees every dsmc process with its command, return code and
// verdict, a copy made by WithNode keeps it, and a request refused before dsmc started is no run.
func TestClientObserver(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		out  Output
		call func(c *Client) error
		want []RunInfo // Duration is not compared
	}{
		{"backup ok", Output{Stdout: okBackup},
			func(c *Client) error { _, err := c.BackupImage(ctx, "/dev/x"); return err },
			[]RunInfo{{Op: "backup image", RC: 0, OK: true}}},
		{"rc 0 that proves nothing is a failure", Output{},
			func(c *Client) error { _, err := c.BackupFile(ctx, "/f"); return err },
			[]RunInfo{{Op: "selective", RC: 0, Kind: KindFailed}}},
		{"session lost", Output{RC: 12, Stdout: "ANS1017E Session rejected: TCP/IP connection failure.\n"},
			func(c *Client) error { _, err := c.QuerySession(ctx); return err },
			[]RunInfo{{Op: "query session", RC: 12, Kind: KindConnection}}},
		{"through WithNode", Output{RC: 12, Stdout: "ANS1311E Server out of data storage space\n"},
			func(c *Client) error { _, err := c.WithNode("B").BackupImage(ctx, "/dev/x"); return err },
			[]RunInfo{{Op: "backup image", RC: 12, Kind: KindNoSpace}}},
		{"dsmc missing", Output{RC: -1},
			func(c *Client) error { _, err := c.Delete(ctx, ModeImage, "/dev/x"); return err },
			[]RunInfo{{Op: "delete backup", RC: -1, Kind: KindMissing}}},
		{"refused before dsmc", Output{Stdout: okBackup},
			func(c *Client) error { _, err := c.BackupImage(ctx, "relative"); return err },
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{respond: func(Invocation) (Output, error) {
				if tc.out.RC == -1 {
					return tc.out, &Error{Kind: KindMissing, Detail: "exec: dsmc: not found"}
				}
				return tc.out, nil
			}}
			var got []RunInfo
			c := NewClient(Config{}, f).WithObserver(func(r RunInfo) { got = append(got, r) })
			_ = tc.call(c)
			if len(got) != len(tc.want) {
				t.Fatalf("observed %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Duration < 0 {
					t.Errorf("negative duration %v", got[i].Duration)
				}
				got[i].Duration = 0
				if got[i] != tc.want[i] {
					t.Errorf("observed %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
	// Without an observer nothing is called and nothing breaks.
	if _, err := NewClient(Config{}, &fakeRunner{respond: answer(0, okBackup, "")}).BackupImage(ctx, "/dev/x"); err != nil {
		t.Fatal(err)
	}
}
