package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
// positional arguments, and returns the positional ones. -h or --help
// prints the usage to stdout and returns errHelp (exit 0); a bad flag
// prints the error and the usage to stderr and returns errUsage.
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, error) {
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, errHelp
			}
			fs.SetOutput(stderr)
			io.Copy(stderr, &msg)
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			fs.SetOutput(stderr)
			return pos, nil
		}
		if args[0] == "--" {
			fs.SetOutput(stderr)
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// errHelp is returned after help was asked for and printed: exit 0.
var errHelp = errors.New("help")

func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mqttgate %s\n\nflags:\n", usage)
		printFlags(fs)
	}
	return fs
}

// printFlags lists the flags as the usage lines spell them: --data-dir for
// long names, -c for one letter.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(fs.Output(), "  %s\n    \t%s\n", strings.TrimSpace(dash+f.Name+" "+arg), usage)
	})
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

// isHelp reports whether arg asks for help instead of naming a command.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}
