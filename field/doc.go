// Package field carries the path of the configuration key an error is
// about, so that each part validates its own Config and the gateway's
// config package, which knows the file, turns the path into FILE:LINE.
//
// It is modelled on Kubernetes' apimachinery/pkg/util/validation/field,
// much smaller: a part's Validate returns errors.Join of *Error values
// whose Path is relative to the part's Config ("addr", "topics[0].qos");
// a caller that validates a sub-struct puts its own path in front with
// Prefix ("uplinks[1]" + "topics[0].qos"). The package imports only the
// standard library, so every part may use it.
package field
