// Command mqttbench is the project's MQTT load generator. It speaks raw MQTT
// 3.1.1 and 5 over TCP and over WebSocket (subprotocol "mqtt", with the chap1
// two-step login for WebSocket clients that give a username) using its own
// small packet encoder and decoder, so that the generator, not the broker,
// is rarely the bottleneck: buffered writes flushed per batch, one
// preencoded PUBLISH per publisher patched in place, no allocation per
// message in the hot loops.
//
// Scenarios (-scenario):
//
//	fanin    8 publishers -> 1 subscriber, as fast as possible
//	fanout   1 publisher -> 50 subscribers (rate = deliveries/s)
//	latency  1 publisher at a fixed -rate (1000 msg/s), p50/p99/max
//	idle     hold -conns connections and report the broker's RSS growth
//	         per connection, read from /proc/PID/status (-pid)
//
// Every payload carries the publisher's index, a sequence number and the
// send time, so subscribers count lost, duplicated and out-of-order
// messages. Each run prints one JSON line on stdout and one human line on
// stderr; `mqttbench table FILE...` turns JSON lines from several runs into
// a table of medians with min-max spread and the ratio of the first broker
// to the second. bench.sh beside this file runs the whole comparison of
// mqttgate and Mosquitto (`make bench`).
package main
