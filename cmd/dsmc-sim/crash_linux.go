package main

import (
	"syscall"
	"unsafe"
)

// kernelSigaction is zero except for the handler, so its layout differences
// between architectures do not matter: SIG_DFL (0), no flags, empty mask.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// defaultDisposition restores the kernel's default action for sig, bypassing
// the Go runtime's handlers, so that a self-sent SIGSEGV or SIGABRT ends the
// process by that signal like a crashing C program instead of a Go traceback.
func defaultDisposition(sig syscall.Signal) {
	var sa kernelSigaction
	_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
}
