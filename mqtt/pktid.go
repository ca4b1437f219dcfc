package mqtt

import (
	"math"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Packet Identifiers belong to the side that assigns them: "The Client and
// Server assign Packet Identifiers independently of each other" (MQTT
// 3.1.1 section 2.3.1, MQTT 5 section 2.2.1). mochi v2.7.9 keeps both in
// one table per session, cl.State.Inflight, keyed by the identifier
// alone, so a client packet with the identifier of a message the server
// has in flight to that client is taken for the server's message:
//
//   - SUBSCRIBE and UNSUBSCRIBE are refused with 0x91 (server.go:1244,
//     :1319), a code MQTT 3.1.1 does not have [MQTT-3.9.3-2];
//   - a QoS 1 or 2 PUBLISH deletes the server's message from the session
//     unacknowledged (server.go:893-901): it is lost if the connection
//     ends before the client's PUBACK, and for a client with a Receive
//     Maximum the quota it held never comes back, so nothing more is sent;
//   - a PUBREL deletes it too (server.go:1219).
//
// Every common client library numbers from 1, as mochi does, so a device
// that receives QoS 1 commands and publishes QoS 1 readings meets this at
// once. The gateway keeps the two apart. The top aliasIDs identifiers are
// kept from mochi's own numbering (reservePacketIDs, queue.go); a client
// packet whose identifier would be taken for the server's is processed
// under one of them, and its answer goes out with the client's identifier
// again (encode). A QoS 2 exchange keeps its alias from PUBLISH to
// PUBREL; the store records the client's identifier with its PUBREC, for
// a restart.
type clientPacketIDs struct {
	ok     bool         // the aliases are kept from mochi's numbering
	active atomic.Int64 // sessions in ids: read and encode take no lock while 0
	mu     sync.Mutex
	ids    map[string]map[uint16]uint16 // client id -> alias -> the client's identifier
}

// aliasIDs is how many identifiers are kept for aliases: one for the
// packet being processed and the rest for QoS 2 exchanges waiting for
// their PUBREL (the client sends that within one round trip).
const aliasIDs = 16

// firstAlias is the lowest alias; mochi numbers up to firstAlias-1.
const firstAlias = math.MaxUint16 - aliasIDs + 1

// serversID reports whether id is that of a message the server has in
// flight to cl (a PUBLISH awaiting PUBACK or PUBREC, a PUBREL awaiting
// PUBCOMP), not one of the client's own exchanges (a PUBREC awaiting
// PUBREL).
func serversID(cl *mochi.Client, id uint16) bool {
	pk, ok := cl.State.Inflight.Get(id)
	return ok && (pk.FixedHeader.Type == packets.Publish || pk.FixedHeader.Type == packets.Pubrel)
}

// pubrecAt reports whether the session holds a QoS 2 exchange of the
// client's under id.
func pubrecAt(cl *mochi.Client, id uint16) bool {
	pk, ok := cl.State.Inflight.Get(id)
	return ok && pk.FixedHeader.Type == packets.Pubrec
}

// read runs on every packet from cl before mochi processes it, and
// returns it under an alias if its own identifier would be taken for the
// server's, or if it continues a QoS 2 exchange kept under one (a PUBREL,
// or the PUBLISH sent again).
func (c *clientPacketIDs) read(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if !c.ok || cl.Net.Inline {
		return pk
	}
	switch t := pk.FixedHeader.Type; {
	case t == packets.Subscribe || t == packets.Unsubscribe:
	case t == packets.Publish && pk.FixedHeader.Qos > 0 || t == packets.Pubrel:
		if c.active.Load() > 0 && (t == packets.Pubrel || pk.FixedHeader.Qos == 2) {
			if a, ok := c.exchange(cl, pk.PacketID); ok {
				return c.under(cl, pk, a)
			}
		}
	default:
		return pk
	}
	if !serversID(cl, pk.PacketID) {
		return pk
	}
	for a := uint16(firstAlias); ; a++ {
		if _, used := cl.State.Inflight.Get(a); !used {
			return c.under(cl, pk, a)
		}
		if a == math.MaxUint16 {
			return pk // every alias holds a QoS 2 exchange: mochi decides
		}
	}
}

// exchange returns the alias of cl's QoS 2 exchange that the client
// numbered id.
func (c *clientPacketIDs) exchange(cl *mochi.Client, id uint16) (uint16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, cid := range c.ids[cl.ID] {
		if cid == id && pubrecAt(cl, a) {
			return a, true
		}
	}
	return 0, false
}

func (c *clientPacketIDs) under(cl *mochi.Client, pk packets.Packet, alias uint16) packets.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(cl.ID, alias, pk.PacketID)
	pk.PacketID = alias
	return pk
}

// set records that the session clientID has the client's identifier id
// under alias. c.mu is held.
func (c *clientPacketIDs) set(clientID string, alias, id uint16) {
	if c.ids == nil {
		c.ids = map[string]map[uint16]uint16{}
	}
	m := c.ids[clientID]
	if m == nil {
		m = map[uint16]uint16{}
		c.ids[clientID] = m
		c.active.Add(1)
	}
	m[alias] = id
}

// restored records what the store brought back: the session clientID has
// a QoS 2 exchange under alias that the client numbered id.
func (c *clientPacketIDs) restored(clientID string, alias, id uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set(clientID, alias, id)
}

// clientID returns the client's identifier of pk, a packet for cl under
// an alias, or 0 if it is not one.
func (c *clientPacketIDs) clientID(cl *mochi.Client, pk packets.Packet) uint16 {
	if pk.PacketID < firstAlias || c.active.Load() == 0 {
		return 0
	}
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubrec, packets.Pubcomp, packets.Suback, packets.Unsuback:
	default:
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[cl.ID][pk.PacketID]
}

// encode puts the client's identifier back on an answer written under an
// alias.
func (c *clientPacketIDs) encode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if id := c.clientID(cl, pk); id != 0 {
		pk.PacketID = id
	}
	return pk
}

// processed runs after mochi processed a packet from cl: a packet under
// an alias is done, and so is every QoS 2 exchange of the session whose
// alias no longer holds its PUBREC (completed, or ended with the session):
// only aliases holding a PUBREC are kept.
func (c *clientPacketIDs) processed(cl *mochi.Client) {
	if c.active.Load() == 0 || cl.Net.Inline { // inline: the broker's router carries a publisher's id (publish.go)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.ids[cl.ID]
	if !ok || cl.IsTakenOver() {
		return // a connection taken over has handed its exchanges on
	}
	for a := range m {
		if !pubrecAt(cl, a) {
			delete(m, a)
		}
	}
	if len(m) == 0 {
		delete(c.ids, cl.ID)
		c.active.Add(-1)
	}
}

// ended runs when cl's connection ends: with expire its session ends too,
// and its exchanges with it. (A session that lives on keeps them for its
// next connection; processed drops the stale ones.)
func (c *clientPacketIDs) ended(cl *mochi.Client, expire bool) {
	if !expire || c.active.Load() == 0 || cl.Net.Inline || cl.IsTakenOver() {
		return // a connection taken over hands its exchanges on
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ids[cl.ID]; ok {
		delete(c.ids, cl.ID)
		c.active.Add(-1)
	}
}
