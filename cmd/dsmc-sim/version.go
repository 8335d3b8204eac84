package main

import (
	"fmt"
	"strconv"
	"strings"
)

// variant is a client release whose banner the simulator reproduces.
type variant struct {
	product     string // first banner line
	v, r, l, s  int
	year        int  // copyright year
	trailing    bool // trailing blank after "Level x.y" and "Reserved."
	serverLevel string
	prompt      string // interactive prompt
	ans1029     string // ANS1029E text when it differs from the product template
}

var (
	// Samples 04 (7.1.4), 02 (8.1.6), 11 (8.1.15.2), 03 (8.1.23).
	variantTSM71 = variant{product: "IBM Tivoli Storage Manager", v: 7, r: 1, l: 4, year: 2015, serverLevel: "8, Release 1, Level 9.300", prompt: "tsm> ",
		ans1029: "Communication with the  TSM server is lost."}
	variantSP816   = variant{product: "IBM Spectrum Protect", v: 8, r: 1, l: 6, year: 2018, serverLevel: "8, Release 1, Level 4.000", prompt: "Protect> "}
	variantSP8115  = variant{product: "IBM Spectrum Protect", v: 8, r: 1, l: 15, s: 2, year: 2022, trailing: true, serverLevel: "8, Release 1, Level 15.000", prompt: "Protect> "}
	variantSTP8123 = variant{product: "IBM Storage Protect", v: 8, r: 1, l: 23, year: 2024, trailing: true, serverLevel: "8, Release 1, Level 21.000", prompt: "Protect> "}
)

// pickVariant maps DSMSIM_VERSION to a banner. Named and known releases come
// from samples; other V.R.L[.S] values get the product line of their era.
func pickVariant(s string) variant {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "8.1.23", "8.1.23.0", "storage", "storage-protect":
		return variantSTP8123
	case "7", "7.1", "7.1.4", "7.1.4.0", "tsm", "tivoli":
		return variantTSM71
	case "8", "8.1", "8.1.6", "8.1.6.0", "spectrum", "spectrum-protect":
		return variantSP816
	case "8.1.15", "8.1.15.2":
		return variantSP8115
	}
	parts := strings.Split(s, ".")
	n := make([]int, 4)
	for i := 0; i < len(parts) && i < 4; i++ {
		n[i], _ = strconv.Atoi(parts[i])
	}
	v := variant{v: n[0], r: n[1], l: n[2], s: n[3], prompt: "Protect> ", serverLevel: "8, Release 1, Level 21.000"}
	switch {
	case v.v < 8:
		v.product, v.year, v.prompt = "IBM Tivoli Storage Manager", 2015, "tsm> "
		v.ans1029 = variantTSM71.ans1029
	case v.v == 8 && v.r == 1 && v.l < 20:
		v.product, v.year = "IBM Spectrum Protect", 2018+max(0, v.l-6)/3
		v.trailing = v.l >= 13
	default:
		v.product, v.year, v.trailing = "IBM Storage Protect", 2025, true
	}
	return v
}

// serverProduct is the product name used inside message texts.
func (v variant) serverProduct() string { return v.product }

func (v variant) banner(dateTime string) []string {
	t := ""
	if v.trailing {
		t = " "
	}
	return []string{
		v.product,
		"Command Line Backup-Archive Client Interface",
		fmt.Sprintf("  Client Version %d, Release %d, Level %d.%d%s", v.v, v.r, v.l, v.s, t),
		"  Client date/time: " + dateTime,
		fmt.Sprintf("(c) Copyright by IBM Corporation and other(s) 1990, %d. All Rights Reserved.%s", v.year, t),
	}
}

// serverVersionShort is the "Ver. 8, Rel. 1, Lev. 4.0" form of query session.
func (v variant) serverVersionShort() string {
	var a, b, c int
	var lev string
	_, _ = fmt.Sscanf(v.serverLevel, "%d, Release %d, Level %s", &a, &b, &lev)
	lp, _, _ := strings.Cut(lev, ".")
	c, _ = strconv.Atoi(lp)
	return fmt.Sprintf("Ver. %d, Rel. %d, Lev. %d.0", a, b, c)
}
