package csi

import (
	"math"
	"testing"
)

func TestOwed(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name  string
		files []spaceFile
		want  int64
	}{
		{"nothing", nil, 0},
		{"empty sparse volume owes its size", []spaceFile{{"volumes/vol-a.img", 100 * mi, 0, 0}}, 100 * mi},
		{"written blocks are paid", []spaceFile{{"volumes/vol-a.img", 100 * mi, 30 * mi, 0}}, 70 * mi},
		{"a full volume owes nothing", []spaceFile{{"volumes/vol-a.img", 100 * mi, 100 * mi, 0}}, 0},
		{"preallocation beyond the size is no credit", []spaceFile{
			{"volumes/vol-a.img", 10 * mi, 12 * mi, 0}, {"volumes/vol-b.img", 10 * mi, 0, 0}}, 10 * mi},
		{"volumes add up", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 10 * mi, 0}, {"volumes/vol-b.img", 50 * mi, 0, 0}}, 140 * mi},
		{"a file-mode restore pays the debt of its volume", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 0, 0}, {"volumes/vol-a.img.restore", 40 * mi, 40 * mi, 0}}, 60 * mi},
		{"a finished restore owes nothing more", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 0, 0}, {"volumes/vol-a.img.restore", 100 * mi, 100 * mi, 0}}, 0},
		{"a cut shares blocks: the volume owes their copies", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 30 * mi, 30 * mi}}, 100 * mi},
		{"partly overwritten since the cut", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 40 * mi, 20 * mi}}, 80 * mi},
		{"a reflinked clone: both owe the shared blocks", []spaceFile{
			{"volumes/vol-a.img", 100 * mi, 100 * mi, 100 * mi}, {"volumes/vol-b.img", 100 * mi, 100 * mi, 100 * mi}}, 200 * mi},
		{"cuts themselves are never written", []spaceFile{{"cuts/s1.img", 100 * mi, 0, 0}}, 0},
		{"other files are not volumes", []spaceFile{{"volumes/lock", 100 * mi, 0, 0}}, 0},
		{"no overflow", []spaceFile{
			{"volumes/vol-a.img", math.MaxInt64, 0, 0}, {"volumes/vol-b.img", math.MaxInt64, 0, 0}}, math.MaxInt64},
	} {
		if got := owed(tc.files); got != tc.want {
			t.Errorf("%s: owed = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPromisable(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		name                string
		available           int64
		ratio               float64
		owed, pending, want int64
	}{
		{"empty file system", 256 * mi, 1, 0, 0, 256 * mi},
		{"the issue: 256 MiB, one empty 100 MiB volume", 256 * mi, 1, 100 * mi, 0, 156 * mi},
		{"the issue: after two volumes a third of 100 MiB cannot be promised", 256 * mi, 1, 200 * mi, 0, 56 * mi},
		{"reservations in flight count", 256 * mi, 1, 100 * mi, 100 * mi, 56 * mi},
		{"more owed than free is nothing, not negative", 10 * mi, 1, 100 * mi, 0, 0},
		{"overcommit ratio 2", 100 * mi, 2, 150 * mi, 0, 50 * mi},
		{"no overflow", math.MaxInt64, 4, 0, 0, math.MaxInt64},
	} {
		if got := promisable(tc.available, tc.ratio, tc.owed, tc.pending); got != tc.want {
			t.Errorf("%s: promisable = %d, want %d", tc.name, got, tc.want)
		}
	}
}
