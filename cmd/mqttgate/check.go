package main

import (
	"fmt"
	"io"
)

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		args = []string{"check", "--help"}
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: mqttgate config check -c FILE\n")
		return errUsage
	}
	var f runFlags // only the common flags: the run flags stay empty
	fs := newFlagSet("config check", "config check -c FILE")
	f.register(fs)
	pos, err := parse(fs, args[1:], stdout, stderr)
	if err != nil {
		return err
	}
	if len(pos) == 1 && f.file == "" {
		f.file = pos[0]
	} else if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	if _, err := f.config(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
