// Package bridge moves data between the parts of the gateway: sensor
// readings from hw to broker topics, commands from broker topics to hw
// actuators, and messages between the local broker and upstream brokers.
//
// It reaches the broker only through the small Broker interface declared
// here, which the mqtt package satisfies; it imports no broker package.
package bridge
