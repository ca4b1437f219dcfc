// Package uplink links the gateway's broker to upstream brokers (what
// Mosquitto calls a bridge): chosen local topics are forwarded upstream
// through a disk queue that survives outages and restarts, and chosen
// upstream topics are brought in. It speaks MQTT to the upstream broker
// with eclipse/paho.mqtt.golang and reaches the local broker only through
// the small Broker interface declared here, which the mqtt package
// satisfies; it imports no broker package.
//
// paho's loggers are package-wide variables: main calls RoutePahoLogs once,
// before any link starts, to send paho's own messages through slog.
package uplink
