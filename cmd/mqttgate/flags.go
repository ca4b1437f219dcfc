package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"mqttgate/config"
	"mqttgate/configs"
)

// common are the flags that find the configuration and the data dir.
type common struct {
	file    string
	dataDir string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.file, "c", "", "configuration `FILE` (default: the built-in configuration)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data `DIR` (overrides data_dir)")
}

// load reads, completes and validates the configuration the flags name,
// --data-dir and the given overrides applied (config.Parse: the one path
// for run, config check and the user commands).
func (c *common) load(overrides ...config.Override) (config.Config, error) {
	if c.dataDir != "" {
		overrides = append(overrides, config.Override{Flag: "--data-dir", Path: "data_dir", Value: c.dataDir})
	}
	if c.file == "" {
		return config.Parse(c.name(), configs.Default, overrides...)
	}
	return config.Load(c.file, overrides...)
}

func (c *common) name() string {
	if c.file == "" {
		return "(built-in configuration)"
	}
	return c.file
}

// parse parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, error) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mqttgate %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

func usersPath(dataDir string) string { return filepath.Join(dataDir, "users.json") }
func adminPasswordPath(dataDir string) string {
	return filepath.Join(dataDir, "initial-admin-password")
}

func mkdirData(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}
