package main

import (
	"os"
	"syscall"
)

// allocated is the disk space a file really uses (sparse files use less than
// their size).
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
