package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ReplyPrefix starts every client's own reply space: a client may always
// subscribe to and receive ReplyPrefix + <its client id> + "/..." (and
// nobody else may), whatever its read rules, so that any logged-in client
// has a Response Topic for requests. Like every topic starting with "$",
// these are not matched by "#" or "+" [MQTT-4.7.2-1].
const ReplyPrefix = "$reply/"

// ownReply reports whether topic (a name or filter) lies in cl's reply
// space.
func ownReply(cl *mochi.Client, topic string) bool {
	rest, ok := strings.CutPrefix(topic, ReplyPrefix)
	if !ok {
		return false
	}
	id, _, ok := strings.Cut(rest, "/")
	return ok && id == cl.ID && cl.ID != ""
}

// Responder answers one request: payload is the request, canRead tells
// whether the asker may read a topic. It returns the reply's payload.
type Responder func(payload []byte, canRead func(topic string) bool) []byte

// responders maps request topics to their Responder; lookups take no lock.
type responders struct {
	mu sync.Mutex // serialises changes
	m  atomic.Pointer[map[string]Responder]
}

// Respond serves MQTT 5 requests on topic (a topic name): a PUBLISH to it
// from any logged-in client, whatever its write rules, is acknowledged
// and not delivered to subscribers; fn answers it, and the answer goes to
// the asker alone, as a QoS 0 PUBLISH to the request's Response Topic
// with its Correlation Data [MQTT-4.10.0] — if the asker may read the
// response topic (its own ReplyPrefix space always) and is subscribed to
// it. Requests without a Response
// Topic, and MQTT 3 requests, are dropped. fn runs on the asker's
// connection: its next packets wait for the answer, nobody else's do.
// The returned func stops serving topic.
func (b *Broker) Respond(topic string, fn Responder) (remove func(), err error) {
	if fn == nil || topic == "" || strings.ContainsAny(topic, "+#") || strings.HasPrefix(topic, "$") {
		return nil, fmt.Errorf("mqtt: respond: %q is not a topic name to serve requests on", topic)
	}
	rs := &b.responders
	rs.mu.Lock()
	defer rs.mu.Unlock()
	cur := rs.snapshot()
	if _, ok := cur[topic]; ok {
		return nil, errors.New("mqtt: respond: " + topic + " is served already")
	}
	next := make(map[string]Responder, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[topic] = fn
	rs.m.Store(&next)
	var once sync.Once
	return func() {
		once.Do(func() {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			next := make(map[string]Responder)
			for k, v := range rs.snapshot() {
				if k != topic {
					next[k] = v
				}
			}
			rs.m.Store(&next)
		})
	}, nil
}

func (rs *responders) snapshot() map[string]Responder {
	if p := rs.m.Load(); p != nil {
		return *p
	}
	return nil
}

// lookup returns the Responder of topic, if any.
func (rs *responders) lookup(topic string) (Responder, bool) {
	p := rs.m.Load()
	if p == nil {
		return nil, false
	}
	fn, ok := (*p)[topic]
	return fn, ok
}

// answer runs fn for a request from cl and writes the answer to cl.
func (h *gateHook) answer(cl *mochi.Client, pk packets.Packet, fn Responder) {
	acc := h.access.of(cl)
	resp := pk.Properties.ResponseTopic
	log := h.log.With("client", cl.ID, "user", string(cl.Properties.Username), "topic", pk.TopicName)
	switch {
	case acc == nil:
		return
	case cl.Properties.ProtocolVersion < 5 || resp == "":
		log.Info("request dropped: it needs MQTT 5 with a Response Topic")
		return
	case !(ownReply(cl, resp) || acc.canRead(resp)) || !subscribedTo(cl, resp):
		log.Info("request dropped: the asker may not read, or is not subscribed to, its Response Topic", "response_topic", resp)
		return
	}
	reply := fn(pk.Payload, acc.canRead)
	err := cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   resp,
		Payload:     reply,
		Properties: packets.Properties{
			CorrelationData: pk.Properties.CorrelationData,
			ContentType:     "application/json",
		},
	})
	if err != nil {
		log.Info("answer not sent", "err", err)
	}
}

// subscribedTo reports whether one of cl's subscriptions matches topic.
func subscribedTo(cl *mochi.Client, topic string) bool {
	for filter := range cl.State.Subscriptions.GetAll() {
		if covers(stripShare(filter), topic) {
			return true
		}
	}
	return false
}
