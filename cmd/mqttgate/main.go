// Command mqttgate is an IoT gateway: an MQTT broker for the devices on the
// LAN, MQTT over WebSocket with the chap1 login for browsers, sensors and
// actuators through periph.io, a live dashboard and uplinks to upstream
// brokers. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"mqttgate/config"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "none"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, ce.Error())
		} else if !errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "mqttgate: %v\n", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: mqttgate <command> [flags]

commands:
  run [-c FILE] [--data-dir DIR] [--mqtt-addr HOST:PORT] [--http-addr HOST:PORT] [--http-tls auto|on|off]
      [--addr-file FILE]  run the gateway (built-in laptop configuration without -c)
  user add NAME [--role ROLE] [--password-stdin] [--create]
  user passwd NAME [--password-stdin]
  user del NAME
  user list               manage users (all take -c FILE / --data-dir DIR)
  config check -c FILE    validate a configuration file
  hw scan                 list I2C devices, 1-Wire devices and GPIO chips
  version                 print the version

` + "`mqttgate COMMAND --help`" + ` shows a command's flags.
`

// run runs the command args name; help asked for is not an error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, stdin, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "mqttgate %s %s %s/%s\n", version, commit, runtime.GOOS, runtime.GOARCH)
		return nil
	case "run":
		return runGateway(ctx, args[1:], stdout, stderr)
	case "user":
		return runUser(args[1:], stdin, stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "hw":
		return runHW(args[1:], stdout, stderr)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "mqttgate: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
