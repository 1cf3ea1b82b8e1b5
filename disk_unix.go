//go:build linux || darwin || freebsd

package main

import "syscall"

// freeDiskBytes is the space an unprivileged process may still use on the
// filesystem holding dir; ok is false when the system cannot tell.
func freeDiskBytes(dir string) (free int64, ok bool, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return int64(st.Bavail) * int64(st.Bsize), true, nil
}
