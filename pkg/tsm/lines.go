package tsm

import "strings"

// splitLines turns dsmc output into lines without trailing blanks. A bare
// carriage return is treated as a line break because progress displays use
// it to overwrite the current line.
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRightFunc(l, isBlank)
	}
	return lines
}

func isBlank(r rune) bool {
	switch r {
	case ' ', '\t', '\v', '\f', 0x85, 0xA0:
		return true
	}
	return false
}

// token is a whitespace-separated word of a line and where it starts, so
// that the rest of a line (a file name with spaces) can be sliced off intact.
type token struct {
	text  string
	start int
}

func tokenize(line string) []token {
	var toks []token
	start := -1
	for i, r := range line {
		if isSpace(r) {
			if start >= 0 {
				toks = append(toks, token{line[start:i], start})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		toks = append(toks, token{line[start:], start})
	}
	return toks
}

// isSpace also splits at the narrow no-break space some locales use as a
// thousands separator, so such a number becomes several tokens and fails
// to parse instead of being read as a smaller one.
func isSpace(r rune) bool {
	return isBlank(r) || r == '\n' || r == '\r' || r == 0x202F || r == 0x2007 || r == 0x2009
}
