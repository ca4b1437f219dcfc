// Package config loads the gateway's YAML configuration: strict decoding
// (an unknown key is an error), the built-in defaults under what the file
// says, then validation of every part. Every problem is reported at once,
// each as "FILE:LINE: what is wrong and how to fix it".
//
// Only cmd/mqttgate imports this package; it gathers the Config types of
// the parts (mqtt, ws, login, hw, sensors, uplink) under one file.
package config
