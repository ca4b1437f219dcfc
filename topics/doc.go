// Package topics is the one place that knows MQTT topic names, topic
// filters and how they match, and the one rule for the names the gateway
// puts into topics: its gateway id, sensor and actuator names, and user
// names.
//
// It follows MQTT 3.1.1 and 5.0 (the statements are the same in both and
// are cited by their 5.0 numbers):
//
//   - A topic name is at least one character [MQTT-4.7.3-1], holds no NUL
//     [MQTT-4.7.3-2], is at most 65535 bytes of UTF-8 [MQTT-4.7.3-3], is
//     well-formed UTF-8 [MQTT-1.5.4-1] and has no wildcard [MQTT-3.3.2-2].
//   - A topic filter is the same, except that '+' may stand for one whole
//     level [MQTT-4.7.1-3] and '#' for the last level and everything below
//     it [MQTT-4.7.1-2]. A wildcard anywhere else makes the filter invalid
//     (a+/b, a/#/b, #a).
//   - A shared subscription is $share/<ShareName>/<filter>: the ShareName is
//     at least one character [MQTT-4.8.2-1] without '/', '+' or '#'
//     [MQTT-4.8.2-2], and the filter after it is valid.
//   - A filter whose first level is a wildcard does not match a topic name
//     that starts with '$' [MQTT-4.7.2-1].
//
// The functions take and return strings and are safe for concurrent use;
// all but SafeName do not allocate. The test table in testdata/table.json is read by this
// package's tests and by the dashboard's unit tests (web/src/topics.js), so
// the broker and the browser agree.
package topics
