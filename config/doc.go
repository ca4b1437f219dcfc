// Package config loads the gateway's YAML configuration: strict decoding
// (an unknown key or a value of the wrong type is a problem, and decoding
// goes on), the flags over the file, each part's defaults (WithDefaults),
// then validation of every part. Every problem is reported at once, each
// as "FILE:LINE: what is wrong and how to fix it": the parts' Validate
// return *field.Error values whose path config finds in the YAML tree.
//
// Only cmd/mqttgate imports this package; it gathers the Config types of
// the parts (mqtt, ws, login, hw, sensors, uplink) under one file.
package config
