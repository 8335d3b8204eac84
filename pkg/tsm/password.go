package tsm

import (
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
