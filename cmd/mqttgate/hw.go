package main

import (
	"fmt"
	"io"

	"mqttgate/hw"
)

func runHW(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprint(stdout, "usage: mqttgate hw scan\n\nlists I2C devices, 1-Wire devices and GPIO chips\n")
		return nil
	}
	if len(args) != 1 || args[0] != "scan" {
		fmt.Fprint(stderr, "usage: mqttgate hw scan\n")
		return errUsage
	}
	var o hw.Opener
	defer o.Close()
	return o.Scan(stdout)
}
