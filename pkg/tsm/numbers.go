package tsm

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Numbers are accepted only in the en_US shape dsmc prints when LANG is
// pinned: groups of three digits separated by "," and, for scaled byte
// values, exactly two decimals after ".". Anything else is an error rather
// than a guess. This is what makes other number formats safe: a German
// "202.784.104" or "2,37", a Swiss "1'024" or a "1 024" with a (narrow)
// space never match, and the only strings both formats can produce, plain
// digit runs, mean the same in both.
var (
	countRe = regexp.MustCompile(`^(?:\d{1,3}(?:,\d{3})+|\d+)$`)
	scaleRe = regexp.MustCompile(`^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?$`)
)

var errNumber = errors.New("not an en_US number")

// parseCount reads a count such as "6,491".
func parseCount(s string) (int64, error) {
	if !countRe.MatchString(s) {
		return 0, fmt.Errorf("%w: %q", errNumber, s)
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", errNumber, s, err)
	}
	return v, nil
}

var unitShift = map[string]uint{"B": 0, "KB": 10, "MB": 20, "GB": 30, "TB": 40, "PB": 50}

// parseBytes reads a number and a unit ("442.62", "KB") into bytes with
// 1 KB = 1024 B, rounding to the nearest byte. Scaled values carry only
// three significant decimals, so they are approximate by nature. An empty
// unit means bytes. Byte values are never fractional.
func parseBytes(num, unit string) (int64, error) {
	shift, ok := unitShift[unit]
	if unit == "" {
		shift, ok = 0, true
	}
	if !ok {
		return 0, fmt.Errorf("%w: unknown unit %q", errNumber, unit)
	}
	m := scaleRe.FindStringSubmatch(num)
	if m == nil || (shift == 0 && m[2] != "") {
		return 0, fmt.Errorf("%w: %q", errNumber, strings.TrimSpace(num+" "+unit))
	}
	hundredths, ok := new(big.Int).SetString(strings.ReplaceAll(m[1], ",", "")+pad2(m[2]), 10)
	if !ok {
		return 0, fmt.Errorf("%w: %q", errNumber, num)
	}
	v := new(big.Int).Lsh(hundredths, shift)
	v.Add(v, big.NewInt(50))
	v.Quo(v, big.NewInt(100))
	if !v.IsInt64() {
		return 0, fmt.Errorf("%w: %q %s overflows", errNumber, num, unit)
	}
	return v.Int64(), nil
}

func pad2(frac string) string {
	if frac == "" {
		return "00"
	}
	return frac
}

// isUnit reports whether s is a byte unit as printed by dsmc.
func isUnit(s string) bool {
	_, ok := unitShift[s]
	return ok
}

// parseByteValue reads a whole statistics value such as "2.37 GB", "0  B"
// or "1,234".
func parseByteValue(s string) (int64, error) {
	f := strings.FieldsFunc(s, isSpace)
	switch len(f) {
	case 1:
		return parseBytes(f[0], "")
	case 2:
		return parseBytes(f[0], f[1])
	}
	return 0, fmt.Errorf("%w: %q", errNumber, s)
}

// startsWithDigit reports whether a table row could begin with a number.
func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }
