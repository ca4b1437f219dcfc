// Package login holds the gateway's login state: the users file with each
// user's chap1 verifier and role, the chap1 challenge-response protocol
// (docs/chap1.md), single-use nonces, the plain-password check
// used by LAN devices, and the blocked list that slows down guessing.
//
// Both the broker's authentication hook (package mqtt) and the HTTP
// challenge endpoint (package ws) use one Service, so a nonce issued over
// HTTPS is checked at MQTT CONNECT time and failures on either side count
// against the same (source address, user name) pair, and the same source
// (see Source).
//
// The users file never holds a password: only a per-user salt, the PBKDF2
// iteration count and StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")).
// A stolen file allows only an offline guessing attack slowed by the
// iteration count.
//
// Nothing in this package logs a password, a proof, a nonce or a key.
package login
