package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1073741824", 1 << 30, true},
		{"512Ki", 512 << 10, true},
		{"64Mi", 64 << 20, true},
		{"100Gi", 100 << 30, true},
		{"2Ti", 2 << 40, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1G", 0, false},
		{"1.5Gi", 0, false},
		{"9999999Ti", 0, false},
	} {
		var b byteSize
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && int64(b) != tc.want) {
			t.Errorf("Set(%q) = %d, %v", tc.in, b, err)
		}
	}
}
