package uplink

// Broker is what an uplink needs of the local MQTT broker. The gateway's
// mqtt.Broker satisfies it; this package imports no broker package.
type Broker interface {
	// Publish injects a message into the broker as if a local client whose
	// client id is origin had published it. It bypasses access rules.
	Publish(origin, topic string, payload []byte, retain bool, qos byte) error

	// Subscribe calls fn for every message delivered to topics matching
	// filter, including retained messages present when it subscribes. fn is
	// called from the broker's delivery path and must not block. The
	// returned func removes the subscription.
	Subscribe(filter string, fn func(topic string, payload []byte, retained bool, qos byte)) (unsubscribe func(), err error)

	// Intercept calls fn synchronously for every message the broker accepts
	// from any client (network clients and Publish alike), after the access
	// check and before the publisher is acknowledged. A non-nil error
	// refuses the message: it is not delivered and not acknowledged as
	// accepted (MQTT 5 publishers get a PUBACK/PUBREC error reason code).
	// origin is the publishing client's id. The returned func removes fn.
	Intercept(fn func(origin, topic string, payload []byte, retain bool, qos byte) error) (remove func())
}
