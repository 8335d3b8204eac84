package tsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// readPassword reads the password file at every run, so a rotated Secret
// is picked up without a restart. Only trailing line breaks are removed; a
// second line is refused because it would answer a prompt nobody expects.
func readPassword(path string) (secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			// The error text names the file, never the content.
			return "", fmt.Errorf("reading password file %s: %v", pe.Path, pe.Err)
		}
		return "", errors.New("reading password file failed")
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	if strings.ContainsAny(pw, "\r\n") {
		return "", fmt.Errorf("password file %s has more than one line", path)
	}
	return secret(pw), nil
}

// promptAnswers is what dsmc reads when it asks for a login: an empty line
// for "Please enter your user id <NODE>:" (keeps the node name it shows)
// and the password for "Please enter password for user id "NODE":". The
// pipe is closed after that, so a third prompt reads EOF and fails.
func promptAnswers(pw secret) []byte {
	return []byte("\n" + string(pw) + "\n")
}

// SeedPassword stores the node's password in dsmc's password store for
// PASSWORDACCESS GENERATE, from Config.PasswordFile, without ever putting it
// on a command line or in the environment.
//
// IBM documents that with PASSWORDACCESS GENERATE the client asks for the
// password once, encrypts it and stores it, and uses the stored password
// from then on (Passwordaccess option,
// https://www.ibm.com/docs/en/storage-protect/8.1.22?topic=reference-passwordaccess);
// IBM advises entering passwords at the prompt rather than as arguments so
// that no other user can see them (dsmsetpw,
// https://www.ibm.com/docs/en/spfsm/8.2.2?topic=reference-dsmsetpw). So this
// runs `dsmc query session` once with the prompt answers on stdin, then once
// more with stdin at /dev/null: that second run proves the password is
// stored. `dsmc set password <old> <new>` would put it on argv, where any
// process on the node can read it.
//
// Whether a real dsmc reads the answers from a pipe is not documented
// (ANS2050E says it cannot prompt "because the process is running in the
// background"); check-tsm tests it. If it does not, seed the store once by
// hand on the node: run `dsmc query session` in a terminal and type the
// password.
func (c *Client) SeedPassword(ctx context.Context) error {
	if c.cfg.PasswordFile == "" {
		return &Error{Op: "query session", RC: -1, Kind: KindInvalid, Detail: "no password file configured"}
	}
	cmd := command{op: "query session", class: classSession, words: []string{"query", "session"}}
	if _, err := c.run(ctx, cmd, nil); err != nil {
		return err
	}
	bare := *c
	bare.cfg.PasswordFile = ""
	if _, err := bare.QuerySession(ctx); err != nil {
		var te *Error
		if errors.As(err, &te) {
			cp := *te
			cp.Detail = "the password was accepted but is not stored (is PASSWORDACCESS GENERATE set in the dsm.sys stanza?): " + te.Detail
			return &cp
		}
		return err
	}
	return nil
}

// noPasswordHint is added to every KindNoPassword error.
const noPasswordHint = "dsmc has no stored password for this node (PASSWORDACCESS GENERATE) and cannot prompt: " +
	"seed it once with `tsm-csi-sidecar check-tsm -seed-password` (Client.SeedPassword, reads the password file, never argv), " +
	"or run `dsmc query session` in a terminal on the node and type the password"
