package mqtt

import (
	"errors"
	"fmt"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"mqttgate/topics"
)

// maxInlineClients bounds the cache of local publishers, one per origin.
const maxInlineClients = 256

// inlineClients are mochi's in-process clients through which the broker
// publishes: one per Publish origin (cached, up to maxInlineClients), and
// a pool of routers that carry a network publisher's id for route. Safe
// for concurrent use.
type inlineClients struct {
	srv      *mochi.Server
	mu       sync.Mutex
	byOrigin map[string]*mochi.Client
	routers  chan *mochi.Client // idle inline clients for route
}

func newInlineClients(srv *mochi.Server) *inlineClients {
	return &inlineClients{srv: srv, byOrigin: map[string]*mochi.Client{}, routers: make(chan *mochi.Client, 64)}
}

// Publish injects a message as if the local client origin had published
// it. It bypasses the access rules but not the Intercept callbacks: an
// interceptor's error is returned and the message is not delivered. A QoS
// 1/2 message is refused at once (an error, nothing delivered) while a
// session subscribed to topic holds max_inflight messages; Publish never
// waits for it. Like every publisher, it may wait (up to 250 ms, once per
// stuck client) for room in a subscriber's write queue (max_queued).
func (b *Broker) Publish(origin, topic string, payload []byte, retain bool, qos byte) error {
	if qos > 2 {
		return fmt.Errorf("mqtt: publish %s: qos %d is not 0, 1 or 2", topic, qos)
	}
	if topics.CheckTopic(topic) != nil || !mochi.IsValidFilter(topic, true) {
		return fmt.Errorf("mqtt: publish: %q is not a topic name a client may publish to", topic)
	}
	if qos > 0 && !b.flow.admit(nil, topic, false) {
		return fmt.Errorf("mqtt: publish %s refused: %w", topic, errQuota)
	}
	if err := b.intercepts.run(origin, topic, payload, retain, qos); err != nil {
		return fmt.Errorf("mqtt: publish %s refused: %w", topic, err)
	}
	p := append([]byte(nil), payload...)
	err := b.srv.InjectPacket(b.local.client(origin), packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     p,
		PacketID:    uint16(qos), // needed by mochi's validity checks, never used
	})
	if err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// route delivers pk, a QoS 1/2 publish of the network client pub that
// passed the access rules, the flow gate and the interceptors, to every
// matching subscription and the retained store, as mochi would after the
// acknowledgement. It runs on a borrowed inline client carrying pub's id,
// so that pk.Origin (No Local) and the retained record name the publisher.
// mochi's processing of an inline publish skips the access check and the
// receive quota and keeps the message's QoS for the subscribers.
func (l *inlineClients) route(pub *mochi.Client, pk packets.Packet) error {
	var cl *mochi.Client
	select {
	case cl = <-l.routers:
	default:
		cl = l.srv.NewClient(nil, mochi.LocalListener, "", true)
	}
	cl.ID = pub.ID
	cl.Properties.ProtocolVersion = pub.Properties.ProtocolVersion
	// The alias was resolved into TopicName already; the inline client
	// must not record it.
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
	err := l.srv.InjectPacket(cl, pk)
	cl.ID = ""
	select {
	case l.routers <- cl:
	default:
	}
	return err
}

// client returns the inline client publishing as origin.
func (l *inlineClients) client(origin string) *mochi.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cl, ok := l.byOrigin[origin]; ok {
		return cl
	}
	cl := l.srv.NewClient(nil, mochi.LocalListener, origin, true)
	if len(l.byOrigin) < maxInlineClients {
		l.byOrigin[origin] = cl
	}
	return cl
}

// Subscribe calls fn for every message on topics matching filter,
// starting with the retained ones. fn runs on the delivery path and must
// not block; while it gets the retained messages (before Subscribe
// returns), it must not publish a retained message: that would wait for
// this very lookup to end (a deadlock; retain.go). The returned func
// removes the subscription. As for network clients, a filter starting
// with a wildcard does not match topics starting with '$' [MQTT-4.7.2-1].
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte, retained bool, qos byte)) (func(), error) {
	if fn == nil {
		return nil, errors.New("mqtt: subscribe: nil callback")
	}
	if err := topics.CheckFilter(filter); err != nil {
		return nil, fmt.Errorf("mqtt: subscribe: filter %q %w", filter, err)
	}
	id := int(b.nextSub.Add(1))
	b.retained.mu.RLock()
	defer b.retained.mu.RUnlock()
	err := b.srv.Subscribe(filter, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		// mochi's index skips the '$' rule for these inline subscriptions.
		if topics.Match(filter, pk.TopicName) {
			fn(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("mqtt: subscribe %q: %w", filter, err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = b.srv.Unsubscribe(filter, id) }) }, nil
}
