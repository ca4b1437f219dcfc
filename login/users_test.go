package login

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	u, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add("alice", "operator", "pw-alice", MinIterations); err != nil {
		t.Fatal(err)
	}
	if err := u.Add("alice", "operator", "x", MinIterations); err == nil {
		t.Error("duplicate user added")
	}
	for _, bad := range []string{"", "a/b", "a+b", "a#", strings.Repeat("x", 65), "spa ce"} {
		if err := u.Add(bad, "viewer", "x", MinIterations); err == nil {
			t.Errorf("user name %q accepted", bad)
		}
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "pw-alice") {
		t.Fatal("the users file holds the password")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v", st.Mode().Perm())
	}
	again, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := again.Lookup("alice")
	want := ComputeVerifier("pw-alice", got.Verifier.Salt, MinIterations)
	if !ok || got.Role != "operator" || string(got.Verifier.StoredKey) != string(want.StoredKey) {
		t.Fatalf("reopened: %+v", got)
	}
	if err := again.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if err := again.Delete("alice"); !errors.Is(err, ErrNoUser) {
		t.Errorf("delete missing user: %v", err)
	}
	if err := u.Reload(); err != nil || u.Len() != 0 {
		t.Errorf("after delete by another handle: %v, %d users", err, u.Len())
	}
}

func TestDamagedUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	os.WriteFile(path, []byte(`{"users":[{"name":"x","salt":"!!","iterations":1,"stored_key":""}]}`), 0o600)
	if _, err := OpenUsers(path); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged file: %v", err)
	}
}

func TestOnChangeNamesChangedUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	u, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := u.Add(n, "device", "pw-"+n, MinIterations); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []string, 10)
	u.OnChange(func(names []string) { got <- names })
	// Another process (`mqttgate user del`, `passwd`) changes the file.
	other, err := OpenUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := other.SetPassword("b", "new", MinIterations); err != nil {
		t.Fatal(err)
	}
	if err := u.Reload(); err != nil {
		t.Fatal(err)
	}
	select {
	case names := <-got:
		if !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("changed users %q, want [a b]", names)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnChange not called")
	}
	if err := u.Reload(); err != nil { // unchanged: no call
		t.Fatal(err)
	}
	select {
	case names := <-got:
		t.Fatalf("OnChange called for an unchanged file: %q", names)
	default:
	}
}
