package tsm

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"
)

func writePasswordFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(content), 0o400); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswordFileIsReadAtEveryRunAndFedOnStdin(t *testing.T) {
	p := writePasswordFile(t, "first-pw\n")
	f := &fakeRunner{respond: answer(0, "Node Name: N1\n", "")}
	c := NewClient(Config{PasswordFile: p}, f)
	if _, err := c.QuerySession(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := string(f.last().Stdin); got != "\nfirst-pw\n" {
		t.Errorf("stdin = %q, want an empty user id line, the password line, then EOF", got)
	}
	// A rotated Secret replaces the file; the next run must use it.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("rotated pw\r\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := c.QuerySession(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := string(f.last().Stdin); got != "\nrotated pw\n" {
		t.Errorf("stdin after rotation = %q", got)
	}
	for _, inv := range f.calls {
		for _, a := range inv.Args {
			if strings.Contains(a, "pw") {
				t.Errorf("argv carries the password: %q", inv.Args)
			}
		}
	}
}

func TestPasswordFileProblems(t *testing.T) {
	for name, path := range map[string]string{
		"missing":        filepath.Join(t.TempDir(), "nope"),
		"empty":          writePasswordFile(t, ""),
		"only a newline": writePasswordFile(t, "\n"),
		"two lines":      writePasswordFile(t, "line-one-secret\nline-two-secret\n"),
		"a directory":    t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeRunner{respond: answer(0, "Node Name: N1\n", "")}
			_, err := NewClient(Config{PasswordFile: path}, f).QuerySession(context.Background())
			if KindOf(err) != KindAuth {
				t.Fatalf("err = %v, want KindAuth", err)
			}
			if f.count() != 0 {
				t.Errorf("dsmc was run without a usable password")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the file content: %v", err)
			}
		})
	}
}

func TestRedactArgs(t *testing.T) {
	in := []string{"query", "session", "-password=hunter2", "-pa=hunter2", "-PASS=hunter2", "--password=hunter2",
		"-p=keep", "-passworddir=/etc/adsm", "-passwordaccess=generate", "-pass", "password=hunter2", "-servername=SRV"}
	want := []string{"query", "session", "-password=***", "-pa=***", "-PASS=***", "--password=***",
		"-p=keep", "-passworddir=/etc/adsm", "-passwordaccess=generate", "-pass", "password=hunter2", "-servername=SRV"}
	got := RedactArgs(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RedactArgs\n got %q\nwant %q", got, want)
	}
	if in[2] != "-password=hunter2" {
		t.Errorf("RedactArgs modified its input")
	}
}

// syncBuffer collects klog output; klog may write from its flush daemon.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureKlog turns on verbosity 4 and sends klog's output to a buffer for
// the rest of the test.
func captureKlog(t *testing.T) *syncBuffer {
	t.Helper()
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"v": "4", "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := fs.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	buf := &syncBuffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
		klog.SetOutput(os.Stderr)
	})
	return buf
}

// The password must not show up anywhere a caller or an operator can see:
// errors (Error(), Output, Args, Detail, messages), results and logs, even
// when dsmc echoes what it read and a Runner puts it into its error.
func TestPasswordNeverLeaks(t *testing.T) {
	const pw = "Zq9-very-secret pw"
	logs := captureKlog(t)
	path := writePasswordFile(t, pw+"\n")
	echo := func(rc int, extra string, runErr bool) func(Invocation) (Output, error) {
		return func(inv Invocation) (Output, error) {
			in := strings.TrimSpace(string(inv.Stdin))
			out := Output{RC: rc,
				Stdout: "Please enter password for user id \"N1\": " + in + "\nANS1051I Invalid user id or password " + in + "\n" + extra,
				Stderr: "echo on stderr: " + in}
			if runErr {
				return out, &Error{Kind: KindTimeout, Detail: "runner saw " + in}
			}
			return out, nil
		}
	}
	ctx := context.Background()
	var seen []string
	collect := func(v any, err error) {
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("not an *Error: %v", err)
			}
			seen = append(seen, err.Error(), te.Output, te.Detail, strings.Join(te.Args, " "))
			for _, m := range te.Messages {
				seen = append(seen, m.Text)
			}
		}
		if r, ok := v.(*Result); ok && r != nil {
			seen = append(seen, r.Output.Stdout, r.Output.Stderr)
			for _, m := range r.Messages {
				seen = append(seen, m.Text)
			}
		}
	}
	for _, sc := range []struct {
		rc     int
		extra  string
		runErr bool
	}{
		{0, okBackup + okRestore + okDelete + "Node Name: N1\n", false}, // success
		{12, "ANS1025E Session rejected: Authentication failure\n", false},
		{-1, "", true},
	} {
		f := &fakeRunner{respond: echo(sc.rc, sc.extra, sc.runErr)}
		c := NewClient(Config{PasswordFile: path}, f)
		collect(c.BackupImage(ctx, "/dev/x"))
		collect(c.BackupFile(ctx, "/f"))
		collect(c.RestoreImage(ctx, "/dev/x", "/dev/y"))
		collect(c.RestoreFile(ctx, "/f", "/g"))
		collect(c.Delete(ctx, ModeFile, "/f"))
		objs, err := c.QueryBackup(ctx, "/f*", false)
		collect(objs, err)
		objs, err = c.QueryImage(ctx, "", false)
		collect(objs, err)
		s, err := c.QuerySession(ctx)
		collect(nil, err)
		if s != nil {
			seen = append(seen, s.Node, s.Server, s.User)
		}
		if f.count() != 8 || !strings.Contains(string(f.last().Stdin), pw) {
			t.Fatalf("the fake did not receive the password on stdin")
		}
	}
	klog.Flush()
	seen = append(seen, logs.String())

	all := strings.Join(seen, "\n")
	if strings.Contains(all, pw) {
		i := strings.Index(all, pw)
		t.Fatalf("password leaked near %q", all[max(0, i-80):i])
	}
	// Guard against a vacuous pass: the echo must have come through,
	// redacted, and every run must have been logged.
	if !strings.Contains(all, "Invalid user id or password ***") {
		t.Errorf("the redacted echo is missing; checked text:\n%s", all)
	}
	if n := strings.Count(logs.String(), "\"dsmc run\""); n != 24 {
		t.Errorf("%d log lines for 24 runs:\n%s", n, logs.String())
	}
}

func TestRunIsLoggedWithRedactedArgs(t *testing.T) {
	logs := captureKlog(t)
	f := &fakeRunner{respond: answer(0, "Node Name: N1\n", "")}
	if _, err := NewClient(Config{ServerName: "SRV9"}, f).QuerySession(context.Background()); err != nil {
		t.Fatal(err)
	}
	klog.Flush()
	out := logs.String()
	for _, want := range []string{"dsmc run", "op=\"query session\"", "-servername=SRV9", "rc=0", "duration="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// End to end through a real process: the script plays a dsmc that echoes
// what it reads at its prompts.
func TestPasswordThroughExecRunner(t *testing.T) {
	const pw = "echoed-Secret-42"
	bin := script(t, `printf 'Please enter your user id <N1>: '; read -r u; echo "[$u]"
printf 'Please enter password for user id "N1": '; read -r p; echo "$p"; echo "stderr $p" >&2
echo "Node Name: N1"
echo "argv:$(tr '\0' '\n' < /proc/$$/cmdline | grep -c -e "$p") env:$(tr '\0' '\n' < /proc/$$/environ | grep -c -e "$p")"`)
	c := NewClient(Config{Binary: bin, PasswordFile: writePasswordFile(t, pw+"\n")}, ExecRunner{})
	res, err := c.run(context.Background(), command{op: "query session", class: classSession, words: []string{"query", "session"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := res.Output.Stdout + res.Output.Stderr
	if strings.Contains(all, pw) {
		t.Fatalf("password in output: %q", all)
	}
	for _, want := range []string{"[]\n", "\"N1\": ***\n", "stderr ***", "argv:0 env:0\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q (the script must have read the password and found it neither in argv nor environment):\n%s", want, all)
		}
	}
}
