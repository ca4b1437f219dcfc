// Package mqtttest runs the gateway's real broker (mqtt.Broker) in the
// test's process, the way net/http/httptest runs an HTTP server: on a
// loopback port of its own (127.0.0.1:0), with a data dir, a login service
// with users, and its logs, until the test ends. It also connects the
// clients tests use against it: a paho.mqtt.golang (MQTT 3.1.1) client, a
// paho.golang (MQTT 5) client and a byte-level gatetest.RawConn.
//
// It uses only mqtt's exported API, so the broker's internals can change
// under it. The mqtt package's own internal tests cannot import it (an
// import cycle); they keep a small starter of their own.
//
// Test code only; the gateway does not import it.
package mqtttest
