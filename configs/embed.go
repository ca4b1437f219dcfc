// Package configs holds the example configurations: default.yaml, the
// built-in configuration of `mqttgate run` without -c, and
// raspberrypi.yaml, installed by the .deb as /etc/mqttgate/config.yaml.
package configs

import _ "embed"

// Default is the built-in configuration.
//
//go:embed default.yaml
var Default []byte
