package hw

import "syscall"

// diskFree returns the bytes available to unprivileged users and the size
// of the file system holding dir.
func diskFree(dir string) (free, size float64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return float64(st.Bavail) * float64(st.Bsize), float64(st.Blocks) * float64(st.Bsize), nil
}
