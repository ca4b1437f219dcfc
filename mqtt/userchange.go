package mqtt

import (
	"context"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// When the users file changes (`mqttgate user` in another process, a
// reload), the sessions of the users it changed are ended or re-checked
// within a second:
//
//   - a deleted user's connections are closed (MQTT 5: DISCONNECT 0x87)
//     and its persistent sessions deleted, messages and all;
//   - a user whose password or role changed is disconnected and logs in
//     again; its persistent sessions stay, with the new role's rules.

// usersPoll is how often the users file is looked at.
const usersPoll = time.Second

// watchUsers has the login service report changed users to usersChanged,
// and makes it look at the users file every usersPoll, until ctx ends.
func (b *Broker) watchUsers(ctx context.Context) {
	users := b.hook.logins.Users()
	users.OnChange(b.usersChanged)
	defer users.OnChange(nil)
	t := time.NewTicker(usersPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			users.Len() // re-reads the file if it changed
		}
	}
}

// usersChanged ends or re-checks the sessions of the users named.
func (b *Broker) usersChanged(names []string) {
	changed := make(map[string]bool, len(names))
	for _, n := range names {
		changed[n] = true
	}
	users := b.hook.logins.Users()
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		user, ok := b.access.sessionOwner(b.srv.Clients, cl.ID)
		if !ok || user == "" || !changed[user] {
			continue
		}
		u, exists := users.Lookup(user)
		switch {
		case !exists:
			b.log.Info("user deleted: session ended", "client", cl.ID, "user", user)
			if persistent(cl) {
				b.endSession(cl)
			}
		default:
			_, oldRole := b.access.roleOf(cl)
			if role, ok := b.access.role(u.Role); ok && u.Role != oldRole {
				b.access.set(cl, newAccess(u.Role, role, user, cl.ID))
			}
			if !cl.Closed() {
				b.log.Info("user changed: client disconnected to log in again", "client", cl.ID, "user", user)
			}
		}
		if !cl.Closed() {
			b.kick(cl, packets.ErrNotAuthorized)
		}
	}
}

// kick disconnects cl: MQTT 5 clients get a DISCONNECT with code.
func (b *Broker) kick(cl *mochi.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = b.srv.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// endSession deletes cl's persistent session as if it had expired: its
// subscriptions, messages and store records, and its access rules.
func (b *Broker) endSession(cl *mochi.Client) {
	b.store.OnClientExpired(cl)
	b.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	b.srv.Clients.Delete(cl.ID)
	b.access.forget(cl)
}
