package ws_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"mqttgate/login"
	"mqttgate/ws"
)

// Example wires the server to a login service and a ServeConn (here one
// that just closes the connection; the gateway passes the broker's).
func Example() {
	dir, _ := os.MkdirTemp("", "ws-example")
	defer os.RemoveAll(dir)
	users, _ := login.OpenUsers(filepath.Join(dir, "users.json"))
	logins, _ := login.New(login.Config{}, users, []byte("a secret of at least 16 bytes"), nil)

	cfg := ws.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir // TLS "auto": the self-signed certificate goes to dir/tls
	srv, err := ws.New(cfg, slog.New(slog.DiscardHandler), ws.Deps{
		Login:     logins,
		ServeConn: func(c net.Conn) error { return c.Close() },
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	_ = srv.Addr()        // e.g. 127.0.0.1:41234; the dashboard is at https://ADDR/
	_ = srv.Fingerprint() // SHA-256 of the certificate, for pinning
	cancel()
	<-done
	// Output:
}
