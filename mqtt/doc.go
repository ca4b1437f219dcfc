// Package mqtt is the gateway's embedded MQTT broker: mochi-mqtt/server/v2
// with the gateway's logins, access rules and store.
//
// It speaks MQTT 3.1, 3.1.1 and 5 with QoS 0/1/2, retained messages, wills,
// persistent sessions and mochi's $SYS topics, on a TCP listener, an
// optional TLS listener (TLS 1.2 minimum) and connections handed over by the
// WebSocket endpoint through Broker.ServeConn (listener id "ws").
//
// # Logins
//
// At CONNECT, in this order: a connection from a blocked address is refused
// at once; an MQTT 5 CONNECT naming Authentication Method "chap1" runs the
// in-band exchange of docs/chap1.md, "In-band" (AUTH 0x18 with the
// challenge, AUTH 0x18 with the proof, CONNACK carrying the method), any
// other method gets CONNACK 0x8C; a password "chap1:..." is the two-step
// form; any other password is a plain password, accepted on the TCP and TLS
// listeners and on "ws" only with Config.PlainOnWebSocket; no username and
// no password is anonymous, allowed only with Config.AllowAnonymous. Every
// refusal is one CONNACK "not authorized" (MQTT 3.1.1 return code 5, MQTT 5
// reason 0x87) followed by closing the connection, except: a blocked login
// (the address, or the user name from it: see package login) gets MQTT 5
// reason 0x9F with a Reason String saying why and for how long, and a
// login whose password check found no turn gets 0x89 (3.1.1: 5 and 3,
// the reason in the log). A CONNECT whose will
// topic the user may not write is refused the same way (as Mosquitto 2).
// A client id in use (a connection or a persistent session, restored ones
// included) belongs to the user holding it: another user's CONNECT with it
// is refused the same way and logged, leaving the holder untouched (owner.go);
// only the same user takes a session over.
// When the users file changes (checked every second), a deleted user's
// connections are closed (MQTT 5: DISCONNECT 0x87) and its persistent
// sessions deleted; a user whose password or role changed is disconnected
// and logs in again, its sessions kept with the new role (userchange.go).
// MQTT 5 CONNACKs carry the user properties "role" and "write" (a JSON
// array of the filters the client may publish to).
//
// # Access rules
//
// A user's role grants Read, Write and Deny topic filters, %u and %c
// replaced by username and client id. A filter whose substitution is empty
// or holds '/', '+' or '#' is dropped (a deny filter is widened instead:
// the level holding the placeholder becomes '+'), so a crafted name cannot
// reach another user's topics. Deny wins. Filters are checked and matched
// by the topics package. As MQTT requires, a wildcard in the first level
// does not match topics starting with '$' [MQTT-4.7.2-1], on every path:
// subscriptions, shared subscriptions (which mochi's index lets through,
// filtered in OnSelectSubscribers) and Broker.Subscribe; the built-in
// admin, operator and viewer roles therefore read "$SYS/#" explicitly. Built-in roles (BuiltinRoles) cannot be redefined by
// the config.
//
// Subscribing (Mosquitto-like): a filter is granted if some topic it matches
// is readable and no deny filter covers it whole; every delivery is then
// checked against the topic itself, so a device subscribed to "#" receives
// only its own topics. A refused filter gets SUBACK 0x87 (MQTT 3.1.1: 0x80);
// an invalid one (a+/b, a/#/b, #a [MQTT-4.7.1-2] [MQTT-4.7.1-3]) 0x8F
// (MQTT 3.1.1: 0x80).
// A client holds at most max_subscriptions subscriptions (default 1024);
// each new filter past it gets SUBACK 0x97 (MQTT 3.1.1: 0x80) (subs.go).
// A message to a shared subscription ($share/group/filter) goes to one
// member that may read its topic, a connected one if there is one
// (shared.go); a group none of whose members may read it does not get it.
// Publishing to a topic the role may not write: MQTT 5 QoS 1/2 publishers
// get PUBACK/PUBREC 0x87; MQTT 3 publishers are acknowledged and the message
// dropped (as Mosquitto does); QoS 0 is dropped. Refusals are logged, one
// line each, without the payload. The delivery check does not allocate.
//
// # Store and the SD card
//
// DataDir/mqtt.db (bbolt) holds retained messages, persistent sessions
// (with the user and role they logged in as), their subscriptions and their
// in-flight QoS 1/2 messages. Nothing else is written: no $SYS snapshots,
// and nothing for clean sessions (MQTT 3 clean session, MQTT 5 session
// expiry 0), which end with their connection anyway: QoS 1/2 between
// clean-session clients costs no write. Writes happen only when that state
// changes: a retained message set or cleared, a persistent session created
// or ended, a SUBSCRIBE's subscriptions made (one commit for all its
// filters) or one removed, and a QoS 1/2 message to a
// persistent session queued and acknowledged (two changes per message).
//
// Acknowledged means saved: a QoS 1/2 publish is routed (every matching
// session holds it, in memory or, for persistent sessions, in the store)
// before the publisher gets its PUBACK/PUBREC. The gateway does the
// routing in OnPublish on an inline client carrying the publisher's id
// (access rules, flow gate and Intercept callbacks have run) and has
// mochi acknowledge without routing again.
//
// With SyncInterval 0 (the zero value and the default) a change is
// committed and fsynced before the broker goes on (the deletion of a
// delivered message excepted: losing it only means sending it again), so
// nothing it acknowledged is lost to a crash, kill -9 or power cut.
// Concurrent changes share one commit (group commit: a committer takes
// everything pending whenever it is idle), so many publishers to
// persistent sessions share fsyncs while a lone one waits only for its
// own. With SyncInterval > 0 changes are kept in memory and committed in
// one transaction per interval: far fewer writes under load, at the price
// of losing up to one interval of changes on a crash, kill -9 or power
// cut. The file is never left half-written either way (bbolt commits
// atomically). Shutdown commits everything.
//
// Before login a connection may send one CONNECT of at most 64 KiB, read
// in small steps before mochi sees the connection (conn.go: a buffer that
// grows as bytes arrive, from 512 bytes); anything else closes it, so
// silent or hostile connections cost a goroutine and the bytes they sent
// until connect_timeout. On the TCP and TLS listeners, connections from one
// address (max_connections_per_addr, default 64) and connections not yet
// logged in (max_pending_connections, default 256, and
// max_pending_connections_per_addr, default 16) are bounded (limits.go);
// more are closed at accept and counted (connects_total{result="limited"}).
// max_clients (default 1024) bounds logged-in clients on every listener.
//
// # Flow control: nothing acknowledged is dropped
//
// mochi drops a QoS 1/2 message after acknowledging it to the publisher
// when a subscriber's write queue (max_queued) is full or its inflight
// quota is reached. The gateway does not (flow.go, overflow.go, stall.go):
//
//   - The bound is max_inflight QoS 1/2 messages per session (sent and not
//     yet acknowledged, or waiting to be sent), checked in OnPublish,
//     before the PUBACK/PUBREC. While a connected session subscribed to the
//     topic is at the bound, the publisher is held (its connection is not
//     read: backpressure) until the backlog falls to three quarters, for at
//     most publish_wait. Then, or at once if that session is offline, the
//     publish is refused: MQTT 5 gets PUBACK/PUBREC 0x97 (quota exceeded);
//     an MQTT 3 publisher, which has no such code, is disconnected without
//     an acknowledgement, so it still holds the message and resends it. A
//     publisher is never held for its own session. Broker.Publish at QoS
//     1/2 is refused at once (an error) instead of waiting.
//   - mochi's own inflight quota is set to 65535 and never reached (the
//     bound is capped at 32768); outbound topic aliases are turned off.
//   - A message that finds a subscriber's write queue (max_queued) full
//     is not dropped at once: the publisher (its goroutine, so its
//     connection is not read meanwhile) waits up to 250 ms for room and
//     the message is queued in order (queue.go reaches mochi's queue). A
//     queue that makes no room in that time marks the client stuck until
//     it has drained to half: later messages for it do not wait, so a
//     stalled client delays its publishers once, not at every message.
//   - QoS 0 that still finds no room is dropped and counted
//     (mqttgate_mqtt_messages_dropped_total, one log line per 10 s).
//   - QoS 1/2 that still finds no room (it was acknowledged already) is put
//     back into the session's inflight under a new packet id, saved by the
//     store like any inflight message, and written by a short-lived
//     goroutine beside mochi's write loop; it may overtake or follow newer
//     messages. If the connection ends first, it is resent at reconnect,
//     as for every inflight message. After a crash it may arrive twice.
//   - A connected client whose backlog stays at the bound without one
//     acknowledgement, or whose write queue keeps overflowing, for
//     stall_timeout is disconnected; its persistent session keeps the
//     messages (and, being offline at the bound, refuses publishers to its
//     topics until it returns or expires: see max_session_expiry).
//   - Writes to each connection are coalesced (conn.go): mochi's
//     writes append to a pending buffer and one short-lived goroutine per
//     burst sends it in one socket write (one WebSocket message). At most
//     64 KiB wait beside the round being sent; past that a write blocks.
//     Close sends what is pending first, within a second.
//   - mochi's writer holds the client's lock while a write blocks, and
//     taking a packet id needs that lock, so a write waits for room at
//     most publish_wait: a client that has not made room in that time is
//     overfull, and its writes no longer wait (the bytes wait beside the
//     socket, up to 1 MiB, past which the connection is closed and
//     counted as a slow client) until it has taken a round. Publishers to
//     a client that stopped reading thus wait at most publish_wait once;
//     then the client pays: its QoS 1/2 messages pile up in its session,
//     up to max_inflight (then publishers are refused as above), and it is
//     disconnected at stall_timeout or at 1 MiB pending, whichever comes
//     first.
//
// A session stored at the bound is congested from the start after a
// restart, and one brought back by a takeover keeps its congestion; a
// takeover keeps the moved messages on the in-flight gauge and in the
// store.
//
// Sessions in normal flow have no flow state: the cost per publish is one
// atomic load in OnPublish and one inflight length read per QoS 1/2
// delivery (BenchmarkFlowGate). Counters: messages_requeued_total,
// messages_lost_total (must stay 0), qos0_publish_held_total (deliveries
// that waited for room), publish_throttled_total,
// publish_refused_quota_total, slow_clients_disconnected_total.
//
// # Inside
//
// Broker wires parts that each own their state and are safe for concurrent
// use; none holds a pointer back to the Broker:
//
//   - accessTable (access.go): every session's access rules, the roles,
//     and the users and roles of stored sessions.
//   - flowCtl (flow.go, overflow.go, stall.go): the flow state of
//     congested or overflowing sessions, the gate, re-queueing and the
//     stall watchdog; queue.go, the only file that reaches into mochi's
//     unexported state, finds mochi's write queues for it (and keeps the
//     top Packet Identifiers from mochi's numbering, for pktid.go).
//   - store (store.go, store_save.go, store_load.go): the bbolt file and
//     its commits; a mochi hook.
//   - listenerSet (listener.go, conn.go): the TCP and TLS listeners and
//     the connections being served, from accept to close.
//   - inlineClients (publish.go): the in-process clients of Publish and
//     of the routing before an acknowledgement.
//   - interceptors (intercept.go): the Intercept callbacks.
//   - retainGuard (retain.go): keeps mochi's retained-message writes apart
//     from its lookups of retained messages on subscribe, which race
//     inside mochi v2.7.9 (mochi-mqtt/server#200).
//
// Mochi hooks hold only the parts they use: gateHook (hook.go,
// auth.go, inband.go) decides logins, access and publishes; flowHook
// (flow.go) feeds mochi's message events to the flow control; wireHook
// (wire.go) mends what mochi puts on the wire (below); retainWrites and
// retainScans (retain.go) take and release the retainGuard.
//
// # The wire
//
// What mochi v2.7.9 sends is mended, rule by rule, where the MQTT 5.0 and
// 3.1.1 standards say otherwise (wire.go; each rule has a raw-wire test
// named after its statement): PUBACK/PUBREC success is 0x00, and acks
// carry no copied User Properties and a Reason String only on failure,
// never when the client set Request Problem Information 0; a Message
// Expiry Interval is forwarded only when the publisher set one, reduced by
// the time waited; an MQTT 5 keep alive of 0 or above max_keepalive gets
// the Server Keep Alive in CONNACK, enforced at 1.5 times; a client's
// Receive Maximum holds messages back without losing any, and the client's
// own QoS 2 exchanges do not count as acknowledgements (receivemax.go);
// the client's Packet Identifiers are kept apart from the server's, so a
// client packet numbered like a message in flight to it is neither refused
// (0x91) nor taken for that message, which mochi would delete (pktid.go);
// Subscription Identifiers ride on retained messages sent on subscribe
// (subid.go); topic aliases toward a client that allows them are set as
// the bytes enter the connection, in wire order (alias.go). A connection
// the server ends is half-closed and drained for up to 2 s so that the
// client reads the DISCONNECT (closing.go); MQTT 3.1.1 clients never get a
// DISCONNECT or a 5-only CONNACK code: they are just closed. Will QoS or
// Retain without the Will Flag, a PINGREQ with a body, and No Local on a
// shared subscription are protocol errors. $SYS/broker/version names
// mqttgate (Config.Version) and $SYS dropped counts what /metrics counts.
//
// # Lifecycle
//
// New starts nothing. Run opens the store, binds the listeners, closes
// Ready and serves until its context ends; then it stops accepting, sends
// MQTT 5 clients DISCONNECT 0x8B (server shutting down), closes MQTT 3
// clients, waits up to 10 s for them to go (then closes the rest), commits
// and closes the store, and returns nil.
package mqtt
