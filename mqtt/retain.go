package mqtt

import (
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Retained messages: mochi v2.7.9 writes a topic node's retainPath in
// TopicsIndex.RetainMessage (topics.go:461 and :470) under the index's
// and the node's locks, and reads it in scanMessages (topics.go:554 and
// :573), the retained messages sent on subscribe, under neither
// (mochi-mqtt/server#200). A retained publish racing a subscriber with a
// wildcard filter is a data race: a torn string read at worst, and a
// gateway built with -race halts. The retainGuard keeps the two apart: a
// retained write holds it exclusively, a subscription's retained scan
// holds it shared. mochi has no hook around either call alone, so:
//
//   - writes: from the last OnPublish hook (mochi's processPublish,
//     server.go:912-929: a retained publish that no hook refused or
//     ignored goes straight to retainMessage, server.go:979) or the last
//     OnWill hook (sendLWT, server.go:1521-1546, an undelayed retained
//     will) to the OnRetainMessage that follows (server.go:980). This
//     covers network publishers, Broker.Publish, the routing of QoS 1/2
//     (publish.go) and wills; a write holds the guard for the index
//     update only, not the store's commit (retainWrites runs before the
//     store's hook).
//   - scans: a network SUBSCRIBE holds it shared from OnSubscribed to
//     OnPacketProcessed (processSubscribe, server.go:1298-1309 and
//     processPacket, server.go:714), so also while the SUBACK and the
//     retained messages are queued to the client; Broker.Subscribe holds
//     it around mochi's Subscribe.
//
// Not covered (no hook runs before them): mochi's $SYS tick (server.go:1488)
// and delayed wills (server.go:1751).
type retainGuard struct {
	mu     sync.RWMutex
	holder atomic.Pointer[mochi.Client] // the client whose retained write holds mu
}

// lockWrite takes the guard for cl's retained write, released by
// unlockWrite in OnRetainMessage.
func (g *retainGuard) lockWrite(cl *mochi.Client) {
	g.mu.Lock()
	g.holder.Store(cl)
}

// unlockWrite releases the guard if cl's write took it (a delayed will
// reaches OnRetainMessage without having taken it).
func (g *retainGuard) unlockWrite(cl *mochi.Client) {
	if !g.holder.CompareAndSwap(cl, nil) {
		return
	}
	g.mu.Unlock()
}

// retainWrites is the write side of the guard, a mochi hook added after
// every hook that provides OnPublish or OnWill and before the store.
type retainWrites struct {
	mochi.HookBase
	g         *retainGuard
	available bool // mochi retains messages at all (RetainAvailable)
}

func (h *retainWrites) ID() string { return "mqttgate-retain-writes" }

func (h *retainWrites) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnWill || b == mochi.OnRetainMessage
}

// OnPublish takes the guard for a publish mochi is about to retain.
func (h *retainWrites) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if h.available && pk.FixedHeader.Retain && !pk.Ignore {
		h.g.lockWrite(cl)
	}
	return pk, nil
}

// OnWill takes the guard for a will mochi is about to retain: a retained
// will without a delay (a delayed one is only queued here).
func (h *retainWrites) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	if h.available && will.Retain && cl.Properties.Will.WillDelayInterval == 0 {
		h.g.lockWrite(cl)
	}
	return will, nil
}

// OnRetainMessage runs right after mochi's RetainMessage.
func (h *retainWrites) OnRetainMessage(cl *mochi.Client, _ packets.Packet, _ int64) {
	h.g.unlockWrite(cl)
}

// retainScans is the scan side of the guard for network clients, a mochi
// hook added after the store (whose OnSubscribed may commit).
type retainScans struct {
	mochi.HookBase
	g *retainGuard
}

func (h *retainScans) ID() string { return "mqttgate-retain-scans" }

func (h *retainScans) Provides(b byte) bool {
	return b == mochi.OnSubscribed || b == mochi.OnPacketProcessed
}

// OnSubscribed runs in every processSubscribe, before the retained
// messages are looked up; mochi's inline Subscribe also calls it, and
// Broker.Subscribe holds the guard itself.
func (h *retainScans) OnSubscribed(cl *mochi.Client, _ packets.Packet, _ []byte) {
	if !cl.Net.Inline {
		h.g.mu.RLock()
	}
}

// OnPacketProcessed runs after every processSubscribe, which always
// called OnSubscribed.
func (h *retainScans) OnPacketProcessed(cl *mochi.Client, pk packets.Packet, _ error) {
	if pk.FixedHeader.Type == packets.Subscribe && !cl.Net.Inline {
		h.g.mu.RUnlock()
	}
}
