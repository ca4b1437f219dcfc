package crossbuild_test

import (
	"fmt"
	"io/fs"
	"syscall"
)

// ownerOf returns "uid:gid" of a file.
func ownerOf(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}
