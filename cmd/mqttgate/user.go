package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"mqttgate/login"
	"mqttgate/mqtt"
)

func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: mqttgate user add|passwd|del|list ...\n")
		return errUsage
	}
	var c common
	fs := newFlagSet("user "+args[0], "user add NAME [--role ROLE] [--password-stdin] [-c FILE] [--data-dir DIR]")
	c.register(fs)
	role := fs.String("role", "viewer", "the user's `ROLE` (admin, operator, viewer, device or one from the config)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of prompting")
	pos, err := parse(fs, args[1:], stderr)
	if err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if err := mkdirData(cfg.DataDir); err != nil {
		return err
	}
	users, err := login.OpenUsers(usersPath(cfg.DataDir))
	if err != nil {
		return err
	}
	iter := cfg.Auth.Iterations
	need := func(n int) (string, error) {
		if len(pos) != n {
			fs.Usage()
			return "", errUsage
		}
		if n == 0 {
			return "", nil
		}
		return pos[0], nil
	}
	switch args[0] {
	case "add":
		name, err := need(1)
		if err != nil {
			return err
		}
		roles := mqtt.BuiltinRoles()
		for r := range cfg.Roles {
			roles[r] = mqtt.Role{}
		}
		if _, ok := roles[*role]; !ok {
			return fmt.Errorf("role %q does not exist; use admin, operator, viewer, device or a role defined under roles: in %s", *role, c.name())
		}
		if err := login.ValidateName(name); err != nil {
			return err
		}
		if _, ok := users.Lookup(name); ok {
			return fmt.Errorf("user %q already exists; use `mqttgate user passwd %s` to change the password", name, name)
		}
		pw, err := readPassword(*fromStdin, stdin, stderr)
		if err != nil {
			return err
		}
		if err := users.Add(name, *role, pw, iter); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added user %s with role %s\n", name, *role)
	case "passwd":
		name, err := need(1)
		if err != nil {
			return err
		}
		if _, ok := users.Lookup(name); !ok {
			return fmt.Errorf("no user %q; `mqttgate user list` shows the users", name)
		}
		pw, err := readPassword(*fromStdin, stdin, stderr)
		if err != nil {
			return err
		}
		if err := users.SetPassword(name, pw, iter); err != nil {
			return err
		}
		if name == "admin" {
			if err := os.Remove(adminPasswordPath(cfg.DataDir)); err == nil {
				fmt.Fprintf(stdout, "removed %s\n", adminPasswordPath(cfg.DataDir))
			}
		}
		fmt.Fprintf(stdout, "changed the password of %s\n", name)
	case "del":
		name, err := need(1)
		if err != nil {
			return err
		}
		if err := users.Delete(name); err != nil {
			if errors.Is(err, login.ErrNoUser) {
				return fmt.Errorf("no user %q; `mqttgate user list` shows the users", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "deleted user %s\n", name)
	case "list":
		if _, err := need(0); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE")
		for _, u := range users.List() {
			fmt.Fprintf(tw, "%s\t%s\n", u.Name, u.Role)
		}
		return tw.Flush()
	default:
		fmt.Fprintf(stderr, "mqttgate: unknown user command %q; use add, passwd, del or list\n", args[0])
		return errUsage
	}
	return nil
}

// readPassword reads a password from stdin (one line) or prompts twice on
// the terminal without echo.
func readPassword(fromStdin bool, stdin io.Reader, stderr io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on standard input")
		}
		return pw, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("standard input is not a terminal; pass --password-stdin and pipe the password in")
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords differ")
	}
	if len(a) == 0 {
		return "", errors.New("empty password")
	}
	return string(a), nil
}
