package mqtt

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
)

// accessTable holds the access rules of every session the broker knows,
// the roles new logins get them from, and what stored sessions bring back
// from the store. Its methods are safe for concurrent use; the lookup on
// the delivery path (of) takes a read lock and does not allocate.
type accessTable struct {
	log   *slog.Logger
	roles atomic.Pointer[map[string]Role] // built-in and config roles; setRoles replaces them

	mu       sync.RWMutex
	acc      map[*mochi.Client]*access
	owner    map[string]*mochi.Client  // client id -> the connection holding its rules
	restored map[string]restoredAccess // client id -> user and role of a stored session
}

// restoredAccess is what a stored session brings back for the ACL.
type restoredAccess struct{ user, role string }

func newAccessTable(roles map[string]Role, log *slog.Logger) *accessTable {
	t := &accessTable{log: log, acc: map[*mochi.Client]*access{}, owner: map[string]*mochi.Client{},
		restored: map[string]restoredAccess{}}
	t.roles.Store(&roles)
	return t
}

// role returns the role named name.
func (t *accessTable) role(name string) (Role, bool) {
	r, ok := (*t.roles.Load())[name]
	return r, ok
}

// setRoles replaces every role (built-in ones included: see
// Config.allRoles).
func (t *accessTable) setRoles(all map[string]Role) { t.roles.Store(&all) }

// set records cl's access rules; an earlier connection with the same
// client id loses its rules (it is about to be taken over).
func (t *accessTable) set(cl *mochi.Client, a *access) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.owner[cl.ID]; ok && prev != cl {
		delete(t.acc, prev)
	}
	t.acc[cl] = a
	t.owner[cl.ID] = cl
}

// of returns cl's access rules, nil if it has none.
func (t *accessTable) of(cl *mochi.Client) *access {
	t.mu.RLock()
	a := t.acc[cl]
	t.mu.RUnlock()
	return a
}

func (t *accessTable) drop(cl *mochi.Client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.acc, cl)
	if t.owner[cl.ID] == cl {
		delete(t.owner, cl.ID)
	}
}

// forget drops cl's rules and what the store brought back for its id.
func (t *accessTable) forget(cl *mochi.Client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.acc, cl)
	if t.owner[cl.ID] == cl {
		delete(t.owner, cl.ID)
		delete(t.restored, cl.ID)
	}
}

// roleOf returns the user and role cl logged in as ("" if unknown).
func (t *accessTable) roleOf(cl *mochi.Client) (user, role string) {
	if a := t.of(cl); a != nil {
		return a.user, a.role
	}
	return "", ""
}

// restore records the user and role of a session read from the store.
func (t *accessTable) restore(clientID, user, role string) {
	t.mu.Lock()
	t.restored[clientID] = restoredAccess{user: user, role: role}
	t.mu.Unlock()
}

// sessionEnded runs when a connection ends, and for each session loaded
// from the store (which brings back its access rules).
func (t *accessTable) sessionEnded(cl *mochi.Client, expire bool) {
	if expire || cl.IsTakenOver() {
		t.drop(cl)
		return
	}
	if t.of(cl) != nil {
		return
	}
	t.mu.RLock()
	r, ok := t.restored[cl.ID]
	t.mu.RUnlock()
	if !ok {
		return
	}
	role, ok := t.role(r.role)
	if !ok {
		t.log.Warn("stored session has an unknown role; its messages are held back until it reconnects", "client", cl.ID, "role", r.role)
		return
	}
	t.set(cl, newAccess(r.role, role, r.user, cl.ID))
}

// connected reports whether conn belongs to a client past CONNECT.
func (t *accessTable) connected(c net.Conn) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for cl := range t.acc {
		if cl.Net.Conn == c {
			return true
		}
	}
	return false
}
