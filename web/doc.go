// Package web serves the live dashboard: the browser page built from the
// npm sources in this directory (node build.mjs, run by `make build`) and
// embedded into the binary with go:embed.
//
// The page logs in with chap1 (docs/chap1.md) using WebCrypto,
// then speaks MQTT 5 over the gateway's own /mqtt WebSocket with MQTT.js.
// Nothing is loaded from elsewhere: no CDN, no web fonts.
//
// When the bundle has not been built (dist/ holds only .gitkeep) the
// package still compiles and Handler serves a short page that says how to
// build it.
package web
