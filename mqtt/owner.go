package mqtt

import (
	mochi "github.com/mochi-mqtt/server/v2"
)

// A client id, and the session behind it, belongs to the user that holds
// it: a CONNECT by another user with that id would take the connection
// over and inherit the session's queued messages and subscriptions
// without any access check (mochi's inheritance). The gate refuses it
// instead, before mochi touches the old connection or the session.

// sessionOwner returns the user holding the session or connection of
// client id id, and false if nobody holds it. A stored session's user
// comes from the store.
func (t *accessTable) sessionOwner(clients *mochi.Clients, id string) (string, bool) {
	cl, ok := clients.Get(id)
	if !ok || cl.Net.Inline {
		return "", false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if a := t.acc[cl]; a != nil {
		return a.user, true
	}
	if r, ok := t.restored[id]; ok {
		return r.user, true
	}
	return "", false
}

// ownerRefusal returns why user may not connect as client id cl.ID ("" if
// it may): the id belongs to another user's connection or session.
func (h *gateHook) ownerRefusal(cl *mochi.Client, user string) string {
	owner, ok := h.access.sessionOwner(h.clients, cl.ID)
	if !ok || owner == user {
		return ""
	}
	return "client id " + quote(cl.ID) + " belongs to another user's session"
}
