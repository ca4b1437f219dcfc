//go:build !linux

package hw

import "errors"

func diskFree(dir string) (free, size float64, err error) {
	return 0, 0, errors.New("disk free is only implemented on Linux")
}
