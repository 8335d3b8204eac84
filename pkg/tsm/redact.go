package tsm

import "strings"

const redacted = "***"

// RedactArgs returns a copy of a dsmc argv in which the value of every
// password option is replaced by "***". dsmc accepts any abbreviation of an
// option down to its minimum, so "-pa=", "-pass=" and "-PASSWORD=" are all
// the password option. The driver never passes one; this protects command
// lines that reach a log from elsewhere.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.ToLower(name)
		if hasValue && len(name) >= 2 && strings.HasPrefix("password", name) {
			out[i] = a[:strings.IndexByte(a, '=')+1] + redacted
		}
	}
	return out
}

// secret removes one known secret from strings that leave the package.
type secret string

func (s secret) redact(v string) string {
	if s == "" {
		return v
	}
	return strings.ReplaceAll(v, string(s), redacted)
}

func (s secret) redactAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = s.redact(v)
	}
	return out
}

func (s secret) redactMessages(ms []Message) []Message {
	if s == "" {
		return ms
	}
	out := make([]Message, len(ms))
	for i, m := range ms {
		m.Text = s.redact(m.Text)
		out[i] = m
	}
	return out
}
