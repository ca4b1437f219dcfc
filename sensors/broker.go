package sensors

// Broker is what the sensors need of the local MQTT broker. The gateway's
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
}

// StateFilter is the topic filter that matches the state of every sensor
// of the gateway gatewayID: <gw>/sensors/+/state.
func StateFilter(gatewayID string) string { return gatewayID + "/sensors/+/state" }
