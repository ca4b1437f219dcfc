// Package history keeps the recent past of numeric readings on the
// gateway, so that a chart opens full instead of empty: the gateway's own
// sensor quantities and the numeric fields of chosen third-party topics
// (for example zigbee2mqtt/+), within a Raspberry Pi's memory and an SD
// card's write budget.
//
// Three tiers, as RRDtool and Prometheus downsampling do it:
//
//	raw         every reading of the last hour      memory only
//	1 minute    min, avg, max, last for 7 days       disk
//	15 minutes  min, avg, max, last for the retention disk
//
// Closed minutes and quarter hours are written once per FlushInterval, in
// one transaction: a kill -9 or a power cut loses at most one interval. The
// file (history.db in the data dir, a bbolt database of its own) is bounded
// by MaxSize: the oldest data goes first. A file that cannot be opened is
// moved aside with a log line and a new one started; the gateway always
// starts.
//
// A Series is one (topic, field) pair. A JSON object payload gives one
// series per numeric field (nested objects as "outer.inner", one level
// deep); a plain numeric payload gives one series with the empty field.
//
// Queries come in as JSON (see Request) and are answered in columns that
// a chart library takes as they are (see Answer). The recorder does not
// know MQTT: cmd wires it to the broker's subscriptions and to its
// request/response handler, which checks that the asking user may read the
// topic.
package history
