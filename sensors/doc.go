// Package sensors carries the gateway's own hardware onto broker topics:
// readings of hw sensors become retained JSON state, commands on actuator
// topics drive hw actuators, and Home Assistant discovery configs describe
// both. It reaches the broker only through the small Broker interface
// declared here, which the mqtt package satisfies; it imports no broker
// package and knows nothing of uplinks.
//
// Topics (gw is the gateway id):
//
//	<gw>/status                        "online" at start, "offline" on a clean stop (retained)
//	<gw>/sensors/<name>/state          {"ts":"2026-11-23T10:00:00.123Z","temperature_c":21.43} (retained)
//	<gw>/sensors/<name>/availability   "online" / "offline" (retained)
//	<gw>/actuators/<name>/state        {"state":"on","ts":"..."} (retained)
//	<gw>/actuators/<name>/set          on | off | toggle | {"state":"on"}; retained commands are ignored
//
// With home_assistant.enabled, retained Home Assistant discovery configs
// are published under <prefix>/sensor|binary_sensor|switch/<gw>_<name>[_<key>]/config.
package sensors
