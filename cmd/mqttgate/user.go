package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"mqttgate/config"
	"mqttgate/login"
	"mqttgate/mqtt"
)

const userUsage = `usage: mqttgate user add NAME [--role ROLE] [--password-stdin] [--create]
       mqttgate user passwd NAME [--password-stdin]
       mqttgate user del NAME
       mqttgate user list
All take -c FILE and --data-dir DIR to find the users file (DATA_DIR/users.json).
` + "`mqttgate user COMMAND --help`" + ` shows a command's flags.
`

// userCommands are the usage lines of the user commands.
var userCommands = map[string]string{
	"add":    "user add NAME [--role ROLE] [--password-stdin] [--create] [-c FILE] [--data-dir DIR]",
	"passwd": "user passwd NAME [--password-stdin] [-c FILE] [--data-dir DIR]",
	"del":    "user del NAME [-c FILE] [--data-dir DIR]",
	"list":   "user list [-c FILE] [--data-dir DIR]",
}

func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, userUsage)
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return errUsage
	}
	usage, ok := userCommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mqttgate: unknown user command %q; use add, passwd, del or list\n", args[0])
		return errUsage
	}
	var c common
	u := &userCmd{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := newFlagSet("user "+args[0], usage)
	c.register(fs)
	var create bool
	if args[0] == "add" || args[0] == "passwd" {
		fs.BoolVar(&u.fromStdin, "password-stdin", false, "read the password from standard input instead of prompting")
	}
	if args[0] == "add" {
		fs.StringVar(&u.role, "role", "viewer", "the user's `ROLE` (admin, operator, viewer, device or one from the config)")
		fs.BoolVar(&create, "create", false, "create the users file (and the data dir) if there is none yet")
	}
	pos, err := parse(fs, args[1:], stdout, stderr)
	if err != nil {
		return err
	}
	want := 1 // NAME
	if args[0] == "list" {
		want = 0
	}
	if len(pos) != want {
		fs.Usage()
		return errUsage
	}
	if len(pos) == 1 {
		u.name = pos[0]
	}
	if u.cfg, err = c.load(); err != nil {
		return err
	}
	u.cfgName = c.name()
	if u.users, err = openUsersFile(u.cfg.DataDir, create); err != nil {
		return err
	}
	switch args[0] {
	case "add":
		return u.add()
	case "passwd":
		return u.passwd()
	case "del":
		return u.del()
	}
	return u.list()
}

// userCmd is one user command, its flags parsed and its users file open.
type userCmd struct {
	cfg            config.Config
	cfgName        string
	users          *login.Users
	name, role     string
	fromStdin      bool
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (u *userCmd) add() error {
	roles := mqtt.BuiltinRoles()
	for r := range u.cfg.Roles {
		roles[r] = mqtt.Role{}
	}
	if _, ok := roles[u.role]; !ok {
		return fmt.Errorf("role %q does not exist; use admin, operator, viewer, device or a role defined under roles: in %s", u.role, u.cfgName)
	}
	if err := login.ValidateName(u.name); err != nil {
		return err
	}
	if _, ok := u.users.Lookup(u.name); ok {
		return fmt.Errorf("user %q already exists; use `mqttgate user passwd %s` to change the password", u.name, u.name)
	}
	pw, err := readPassword(u.fromStdin, u.stdin, u.stderr)
	if err != nil {
		return err
	}
	if err := u.users.Add(u.name, u.role, pw, u.cfg.Auth.Iterations); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "added user %s with role %s\n", u.name, u.role)
	return nil
}

func (u *userCmd) passwd() error {
	if _, ok := u.users.Lookup(u.name); !ok {
		return fmt.Errorf("no user %q; `mqttgate user list` shows the users", u.name)
	}
	pw, err := readPassword(u.fromStdin, u.stdin, u.stderr)
	if err != nil {
		return err
	}
	if err := u.users.SetPassword(u.name, pw, u.cfg.Auth.Iterations); err != nil {
		return err
	}
	if u.name == "admin" {
		if err := os.Remove(adminPasswordPath(u.cfg.DataDir)); err == nil {
			fmt.Fprintf(u.stdout, "removed %s\n", adminPasswordPath(u.cfg.DataDir))
		}
	}
	fmt.Fprintf(u.stdout, "changed the password of %s\n", u.name)
	return nil
}

func (u *userCmd) del() error {
	if err := u.users.Delete(u.name); err != nil {
		if errors.Is(err, login.ErrNoUser) {
			return fmt.Errorf("no user %q; `mqttgate user list` shows the users", u.name)
		}
		return err
	}
	fmt.Fprintf(u.stdout, "deleted user %s\n", u.name)
	return nil
}

func (u *userCmd) list() error {
	tw := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE")
	for _, x := range u.users.List() {
		fmt.Fprintf(tw, "%s\t%s\n", x.Name, x.Role)
	}
	return tw.Flush()
}

// openUsersFile opens DATA_DIR/users.json. Unless create is set, a missing
// file is an error that names it: a mistyped --data-dir must not start an
// empty users file of its own.
func openUsersFile(dataDir string, create bool) (*login.Users, error) {
	path := usersPath(dataDir)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("no users file %s (is --data-dir or data_dir right?); `mqttgate run` creates it on first start, `mqttgate user add --create` creates it now", path)
		}
		if err := mkdirData(dataDir); err != nil {
			return nil, err
		}
	}
	return login.OpenUsers(path)
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
