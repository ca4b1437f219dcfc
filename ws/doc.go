// Package ws is mqttgate's HTTP(S) server: one port that serves the
// dashboard, MQTT over WebSocket at /mqtt, the chap1 challenge endpoint
// POST /api/auth/challenge, /healthz and /metrics.
//
// The /mqtt endpoint is the gateway's own WebSocket listener built on
// gorilla/websocket (mochi's built-in one accepts every Origin). It selects
// the subprotocol "mqtt" (or the legacy "mqttv3.1"), checks the Origin
// against cross-site WebSocket hijacking and DNS rebinding (the gateway's
// own names and addresses, not the Host header), enforces connection limits
// per source address and in total, and tighter ones for connections that
// have not logged in yet (with a login deadline), refuses blocked addresses
// with 429, and turns
// each accepted WebSocket into a net.Conn byte stream (see Conn) that it hands
// to the broker through Deps.ServeConn. MQTT packets may be split across
// WebSocket messages or share one [MQTT-6.0.0-2, -3]; a text frame closes
// the connection with 1002 [MQTT-6.0.0-1].
//
// TLS comes in three modes: "auto" generates a self-signed ECDSA P-256
// certificate into DataDir/tls on first start and reuses it; "on" serves a
// configured certificate/key pair and re-reads it when the files change or
// on Reload (SIGHUP); "off" serves plain HTTP, allowed on a non-loopback
// address only with AllowInsecureRemote.
//
// The Server closes the WebSocket connections it accepted when Run returns:
// http.Server.Shutdown does not close hijacked connections.
package ws
