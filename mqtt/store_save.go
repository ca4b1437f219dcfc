package mqtt

import (
	"encoding/json"
	"strconv"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// What the store saves, as mochi reports the changes of sessions,
// subscriptions, in-flight and retained messages.

// storedClient is a session record: mochi's, plus who logged in and with
// which role, so that the session's access rules hold after a restart.
type storedClient struct {
	storage.Client
	User string `json:"mqttgate_user"`
	Role string `json:"mqttgate_role"`
}

// persistent reports whether cl's session outlives its connection (as
// mochi decides at disconnect); only those are stored.
func persistent(cl *mochi.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func subKey(id, filter string) string { return id + "\x00" + filter }
func inflightKey(id string, pid uint16) string {
	return id + "\x00" + strconv.Itoa(int(pid))
}

func (s *store) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) { s.saveClient(cl) }
func (s *store) OnWillSent(cl *mochi.Client, _ packets.Packet)           { s.saveClient(cl) }

func (s *store) saveClient(cl *mochi.Client) {
	if cl.Net.Inline {
		return
	}
	if !persistent(cl) {
		// A clean session replaces a stored one of the same id; its
		// subscriptions and messages are ignored once the record is gone.
		if s.has(bucketClients, cl.ID) {
			s.del(bucketClients, cl.ID)
		}
		return
	}
	p := cl.Properties.Props
	rec := storedClient{Client: storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: p.SessionExpiryInterval, SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			AuthenticationMethod: p.AuthenticationMethod, RequestProblemInfo: p.RequestProblemInfo,
			RequestProblemInfoFlag: p.RequestProblemInfoFlag, RequestResponseInfo: p.RequestResponseInfo,
			ReceiveMaximum: p.ReceiveMaximum, TopicAliasMaximum: p.TopicAliasMaximum, User: p.User,
			MaximumPacketSize: p.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	}}
	if s.sessions != nil {
		rec.User, rec.Role = s.sessions.roleOf(cl)
	}
	s.put(bucketClients, cl.ID, rec)
}

func (s *store) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if cl.Net.Inline || !expire || cl.StopCause() == packets.ErrSessionTakenOver {
		return
	}
	// A clean session has no record, unless an MQTT 5 client set its
	// expiry to 0 at DISCONNECT; look before paying for a commit.
	if persistent(cl) || s.has(bucketClients, cl.ID) {
		s.del(bucketClients, cl.ID)
	}
}

// OnClientExpired deletes the session record first (durably); its
// subscriptions and messages, orphaned from then on, go with the next
// commit.
func (s *store) OnClientExpired(cl *mochi.Client) {
	s.del(bucketClients, cl.ID)
	for f := range cl.State.Subscriptions.GetAll() {
		s.write(change{bucket: bucketSubs, key: subKey(cl.ID, f)}, false)
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		s.write(change{bucket: bucketInflight, key: inflightKey(cl.ID, pk.PacketID)}, false)
	}
}

func (s *store) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	if !persistent(cl) {
		return
	}
	// One commit for the whole SUBSCRIBE, not one per filter.
	cs := make([]change, 0, len(pk.Filters))
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		data, err := json.Marshal(storage.Subscription{
			ID: subKey(cl.ID, f.Filter), T: storage.SubscriptionKey, Client: cl.ID, Qos: codes[i],
			Filter: f.Filter, Identifier: f.Identifier, NoLocal: f.NoLocal,
			RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		})
		if err != nil {
			s.errs.Add(1)
			s.log.Error("store encode failed", "bucket", string(bucketSubs), "err", err)
			continue
		}
		cs = append(cs, change{bucket: bucketSubs, key: subKey(cl.ID, f.Filter), value: data})
	}
	if len(cs) > 0 {
		s.writeAll(cs, true)
	}
}

func (s *store) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	if !persistent(cl) {
		return
	}
	for _, f := range pk.Filters {
		s.del(bucketSubs, subKey(cl.ID, f.Filter))
	}
}

func message(t, id, client string, pk packets.Packet, sent int64) storage.Message {
	p := pk.Properties
	return storage.Message{
		ID: id, T: t, Client: client, Origin: pk.Origin, FixedHeader: pk.FixedHeader,
		TopicName: pk.TopicName, Payload: pk.Payload, Sent: sent, Created: pk.Created, PacketID: pk.PacketID,
		Properties: storage.MessageProperties{
			PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
			MessageExpiryInterval: p.MessageExpiryInterval, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
			SubscriptionIdentifier: p.SubscriptionIdentifier, User: p.User,
		},
	}
}

func (s *store) OnRetainMessage(cl *mochi.Client, pk packets.Packet, r int64) {
	if r == -1 {
		s.del(bucketRetained, pk.TopicName)
		return
	}
	s.put(bucketRetained, pk.TopicName, message(storage.RetainedKey, pk.TopicName, cl.ID, pk, 0))
}

func (s *store) OnRetainedExpired(topic string) { s.del(bucketRetained, topic) }

func (s *store) OnQosPublish(cl *mochi.Client, pk packets.Packet, sent int64, _ int) {
	if !persistent(cl) || serversPuback(pk) {
		return
	}
	k := inflightKey(cl.ID, pk.PacketID)
	rec := storedInflight{Message: message(storage.InflightKey, k, cl.ID, pk, sent)}
	if s.packetIDs != nil {
		rec.ClientPacketID = s.packetIDs.clientID(cl, pk) // a QoS 2 exchange under an alias (pktid.go)
	}
	s.put(bucketInflight, k, rec)
}

// serversPuback reports whether pk is the PUBACK the server built for a
// client's QoS 1 PUBLISH, which mochi keeps in the session from just
// before writing it to just after (server.go:946-960). It is not stored:
// the message was routed before it (hook.go), a publisher that misses it
// sends the message again, and one sent again after a restart would
// acknowledge whatever the client numbered alike by then.
func serversPuback(pk packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Puback && serverBuilt(pk)
}

// storedInflight is an in-flight message record: mochi's, plus the
// client's Packet Identifier of a QoS 2 exchange kept under an alias.
type storedInflight struct {
	storage.Message
	ClientPacketID uint16 `json:"client_packet_id,omitempty"`
}

// OnQosComplete forgets a delivered message without waiting for the
// commit: should it be lost, the message is only sent once more.
func (s *store) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if !persistent(cl) || serversPuback(pk) {
		return
	}
	s.write(change{bucket: bucketInflight, key: inflightKey(cl.ID, pk.PacketID)}, false)
}

// OnQosDropped forgets a discarded message, unless a takeover moved it to
// the new connection of the same session (mochi "drops" it from the old).
func (s *store) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	s.OnQosComplete(cl, pk)
}
