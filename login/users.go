package login

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"mqttgate/topics"
)

// User is one entry of the users file.
type User struct {
	Name     string
	Role     string
	Verifier Verifier
}

// ErrNoUser is returned when a named user does not exist.
var ErrNoUser = errors.New("no such user")

// Users is the users file: each user's role and chap1 verifier, stored as
// JSON with mode 0600 and replaced atomically on every change.
//
// Users notices changes made to the file by another process (the `mqttgate
// user` commands while the gateway runs) within a second, and Reload reads
// it at once. Methods are safe for concurrent use. The zero value is not
// usable; call OpenUsers.
type Users struct {
	path string

	mu       sync.RWMutex
	users    map[string]User
	modTime  time.Time
	stat     os.FileInfo // of the file read last; nil if none
	checked  time.Time
	onChange func(names []string)
}

// OnChange sets fn to be called, on its own goroutine, with the names of
// the users added, removed or changed (role or verifier) each time the
// file is read again and differs. One fn at a time; nil removes it.
func (u *Users) OnChange(fn func(names []string)) {
	u.mu.Lock()
	u.onChange = fn
	u.mu.Unlock()
}

// changedLocked returns the users that differ between old and new.
func changedLocked(old, new map[string]User) []string {
	var names []string
	for name, o := range old {
		n, ok := new[name]
		if !ok || n.Role != o.Role || !sameVerifier(n.Verifier, o.Verifier) {
			names = append(names, name)
		}
	}
	for name := range new {
		if _, ok := old[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func sameVerifier(a, b Verifier) bool {
	return a.Iterations == b.Iterations && bytes.Equal(a.Salt, b.Salt) && bytes.Equal(a.StoredKey, b.StoredKey)
}

type fileUser struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Salt       string `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  string `json:"stored_key"`
}

type usersFile struct {
	Comment string     `json:"comment"`
	Users   []fileUser `json:"users"`
}

// OpenUsers reads the users file at path. A missing file is an empty list
// of users; it is created by the first change.
func OpenUsers(path string) (*Users, error) {
	u := &Users{path: path, users: map[string]User{}}
	if err := u.Reload(); err != nil {
		return nil, err
	}
	return u, nil
}

// Path is the users file's location.
func (u *Users) Path() string { return u.path }

// Reload reads the users file again.
func (u *Users) Reload() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.loadLocked()
}

func (u *Users) loadLocked() error {
	u.checked = time.Now()
	st, err := os.Stat(u.path)
	if errors.Is(err, fs.ErrNotExist) {
		if names := changedLocked(u.users, nil); len(names) > 0 && u.onChange != nil {
			go u.onChange(names)
		}
		u.users, u.modTime, u.stat = map[string]User{}, time.Time{}, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("login: users file: %w", err)
	}
	data, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("login: users file: %w", err)
	}
	var f usersFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("login: users file %s: %w", u.path, err)
	}
	users := make(map[string]User, len(f.Users))
	for i, fu := range f.Users {
		salt, err1 := b64.DecodeString(fu.Salt)
		sk, err2 := b64.DecodeString(fu.StoredKey)
		if err := errors.Join(err1, err2, ValidateName(fu.Name)); err != nil || len(sk) != keyLen || len(salt) < saltLen || fu.Iterations < MinIterations {
			return fmt.Errorf("login: users file %s: entry %d (%q) is damaged; remove it and add the user again", u.path, i+1, fu.Name)
		}
		users[fu.Name] = User{Name: fu.Name, Role: fu.Role, Verifier: Verifier{Salt: salt, Iterations: fu.Iterations, StoredKey: sk}}
	}
	if names := changedLocked(u.users, users); len(names) > 0 && u.onChange != nil {
		go u.onChange(names)
	}
	u.users, u.modTime, u.stat = users, st.ModTime(), st
	return nil
}

// refresh re-reads the file if it changed on disk, at most once a second.
func (u *Users) refresh() {
	u.mu.RLock()
	stale := time.Since(u.checked) > time.Second
	u.mu.RUnlock()
	if !stale {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) <= time.Second {
		return
	}
	u.reloadIfChangedLocked()
}

// lookupFresh is Lookup after looking at the file (one stat), so that a
// user added, changed or removed by `mqttgate user` counts the moment the
// command returns. Logins use it.
func (u *Users) lookupFresh(name string) (User, bool) {
	u.mu.Lock()
	u.reloadIfChangedLocked()
	usr, ok := u.users[name]
	u.mu.Unlock()
	return usr, ok
}

// reloadIfChangedLocked re-reads the file if it was replaced or changed
// since it was read; u.mu must be held.
func (u *Users) reloadIfChangedLocked() {
	u.checked = time.Now()
	st, err := os.Stat(u.path)
	if err == nil && u.stat != nil && os.SameFile(st, u.stat) && st.ModTime().Equal(u.modTime) && st.Size() == u.stat.Size() {
		return
	}
	if errors.Is(err, fs.ErrNotExist) && u.modTime.IsZero() {
		return
	}
	// A file that fails to load keeps the users we have.
	users, mod, stat := u.users, u.modTime, u.stat
	if u.loadLocked() != nil {
		u.users, u.modTime, u.stat = users, mod, stat
	}
}

// Lookup returns the named user.
func (u *Users) Lookup(name string) (User, bool) {
	u.refresh()
	u.mu.RLock()
	defer u.mu.RUnlock()
	usr, ok := u.users[name]
	return usr, ok
}

// Len is the number of users.
func (u *Users) Len() int {
	u.refresh()
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.users)
}

// List returns the users sorted by name.
func (u *Users) List() []User {
	u.refresh()
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]User, 0, len(u.users))
	for _, usr := range u.users {
		out = append(out, usr)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Add creates a user with a role and a password. It fails if the user
// exists.
func (u *Users) Add(name, role, password string, iterations int) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if password == "" {
		return errors.New("login: empty password")
	}
	v, err := NewVerifier(password, iterations)
	if err != nil {
		return err
	}
	return u.change(func(m map[string]User) error {
		if _, ok := m[name]; ok {
			return fmt.Errorf("login: user %q already exists; use `mqttgate user passwd %s` to change the password", name, name)
		}
		m[name] = User{Name: name, Role: role, Verifier: v}
		return nil
	})
}

// SetPassword replaces a user's verifier.
func (u *Users) SetPassword(name, password string, iterations int) error {
	if password == "" {
		return errors.New("login: empty password")
	}
	v, err := NewVerifier(password, iterations)
	if err != nil {
		return err
	}
	return u.change(func(m map[string]User) error {
		usr, ok := m[name]
		if !ok {
			return fmt.Errorf("login: user %q: %w", name, ErrNoUser)
		}
		usr.Verifier = v
		m[name] = usr
		return nil
	})
}

// Delete removes a user.
func (u *Users) Delete(name string) error {
	return u.change(func(m map[string]User) error {
		if _, ok := m[name]; !ok {
			return fmt.Errorf("login: user %q: %w", name, ErrNoUser)
		}
		delete(m, name)
		return nil
	})
}

func (u *Users) change(fn func(map[string]User) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.loadLocked(); err != nil {
		return err
	}
	m := make(map[string]User, len(u.users)+1)
	for k, v := range u.users {
		m[k] = v
	}
	if err := fn(m); err != nil {
		return err
	}
	if err := u.save(m); err != nil {
		return err
	}
	return u.loadLocked()
}

func (u *Users) save(m map[string]User) error {
	f := usersFile{Comment: "mqttgate users: chap1 verifiers only, never passwords. Manage with `mqttgate user`."}
	for _, usr := range m {
		f.Users = append(f.Users, fileUser{
			Name: usr.Name, Role: usr.Role,
			Salt: b64.EncodeToString(usr.Verifier.Salt), Iterations: usr.Verifier.Iterations,
			StoredKey: b64.EncodeToString(usr.Verifier.StoredKey),
		})
	}
	slices.SortFunc(f.Users, func(a, b fileUser) int { return strings.Compare(a.Name, b.Name) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(u.path, append(data, '\n'), 0o600)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash leaves either the old or the new file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ValidateName checks a user name by the gateway's one name rule
// (topics.CheckName): names are substituted into topic filters (%u), so
// '/', '+', '#' and a leading '$' are not allowed, nor are spaces and
// control characters.
func ValidateName(name string) error {
	if err := topics.CheckName(name); err != nil {
		return fmt.Errorf("login: user name %q %w", name, err)
	}
	return nil
}
