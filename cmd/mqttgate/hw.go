package main

import (
	"fmt"
	"io"

	"mqttgate/hw"
)

func runHW(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "scan" {
		fmt.Fprint(stderr, "usage: mqttgate hw scan\n")
		return errUsage
	}
	var o hw.Opener
	defer o.Close()
	return o.Scan(stdout)
}
