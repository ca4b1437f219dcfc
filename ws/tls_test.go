package ws

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"mqttgate/gatetest"
)

func TestTLSAutoGeneratesOnceAndReuses(t *testing.T) {
	cfg := testConfig(t)
	cfg.TLS = TLSAuto
	s1, err := New(cfg, testLogger(t), Deps{Login: newLogin(t, loginCfg()), ServeConn: newPacketSink().serve})
	if err != nil {
		t.Fatal(err)
	}
	fp := s1.Fingerprint()
	if len(fp) != 32*3-1 {
		t.Fatalf("fingerprint %q is not 32 hex pairs with colons", fp)
	}
	key := filepath.Join(cfg.DataDir, "tls", "key.pem")
	st, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	leaf := s1.Certificate()
	host, _ := os.Hostname()
	for _, n := range []string{"localhost", host} {
		if n != "" && !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("certificate DNS names %v lack %q", leaf.DNSNames, n)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("certificate IPs %v lack %s", leaf.IPAddresses, ip)
		}
	}
	s2 := startServer(t, cfg, Deps{Login: newLogin(t, loginCfg()), ServeConn: newPacketSink().serve})
	if s2.Fingerprint() != fp {
		t.Fatalf("second start fingerprint %s, want the reused %s", s2.Fingerprint(), fp)
	}
	// A client pinning the certificate gets the same one, over TLS 1.2+.
	conn, err := tls.Dial("tcp", s2.Addr().String(), &tls.Config{RootCAs: pool(s2), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw); got != fp {
		t.Errorf("served fingerprint %s, want %s", got, fp)
	}
	if _, err := tls.Dial("tcp", s2.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 handshake accepted")
	}
	// wss works with the pinned certificate.
	c, _, err := dial(t, s2, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestTLSAutoBrokenFilesAreAnError(t *testing.T) {
	cfg := testConfig(t)
	cfg.TLS = TLSAuto
	dir := filepath.Join(cfg.DataDir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "cert.pem"), []byte("garbage"))
	mustWrite(t, filepath.Join(dir, "key.pem"), []byte("garbage"))
	if _, err := New(cfg, testLogger(t), Deps{Login: newLogin(t, loginCfg()), ServeConn: newPacketSink().serve}); err == nil {
		t.Fatal("New accepted a broken certificate")
	}
}

// writePair writes a fresh self-signed pair to dir and returns the files.
func writePair(t *testing.T, dir string) (string, string) {
	t.Helper()
	c, k, err := selfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := writeFileAtomic(cf, c, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(kf, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

// servedFingerprint connects and returns the served certificate's fingerprint.
func servedFingerprint(t *testing.T, s *Server) string {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
}

func TestTLSOnReload(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.TLS = TLSOn
	cfg.CertFile, cfg.KeyFile = writePair(t, dir)
	cfg.CertPollInterval = 50 * time.Millisecond
	s := startServer(t, cfg, Deps{ServeConn: newPacketSink().serve})
	first := servedFingerprint(t, s)
	if first != s.Fingerprint() {
		t.Fatalf("served %s, Fingerprint() %s", first, s.Fingerprint())
	}

	// A bad pair on reload is refused and the old certificate kept.
	mustWrite(t, cfg.KeyFile, []byte("not a key"))
	if err := s.Reload(); err == nil {
		t.Fatal("Reload accepted a bad key")
	}
	if got := servedFingerprint(t, s); got != first {
		t.Fatalf("after a bad reload served %s, want the old %s", got, first)
	}

	// A new pair is picked up by polling, without Reload or restart.
	writePair(t, dir)
	gatetest.Eventually(t, "the new certificate served", func() bool { return servedFingerprint(t, s) != first })

	// And by Reload (SIGHUP).
	second := s.Fingerprint()
	writePair(t, dir)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedFingerprint(t, s); got == second || got != s.Fingerprint() {
		t.Fatalf("after Reload served %s (before %s)", got, second)
	}
}

func TestTLSOnBadPairAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.TLS = TLSOn
	cfg.CertFile, cfg.KeyFile = writePair(t, dir)
	mustWrite(t, cfg.KeyFile, []byte("not a key"))
	if _, err := New(cfg, testLogger(t), Deps{Login: newLogin(t, loginCfg()), ServeConn: newPacketSink().serve}); err == nil {
		t.Fatal("New accepted a bad pair")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.DataDir = "/tmp/x"
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"tls off remote", func(c *Config) { c.TLS = TLSOff; c.Addr = "0.0.0.0:8443" }, "tls: "},
		{"bad mode", func(c *Config) { c.TLS = "maybe" }, "tls: "},
		{"on without files", func(c *Config) { c.TLS = TLSOn }, "cert_file: "},
		{"bad addr", func(c *Config) { c.Addr = "8443" }, "addr: "},
		{"bad origin", func(c *Config) { c.AllowedOrigins = []string{"dash.example"} }, "allowed_origins: "},
		{"bad proxy", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, "trusted_proxies: "},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir: "},
	} {
		c := good
		tc.mod(&c)
		err := c.Validate()
		if err == nil || err.Error()[:len(tc.key)] != tc.key {
			t.Errorf("%s: %v, want an error starting with %q", tc.name, err, tc.key)
		}
	}
	ok := good
	ok.TLS, ok.Addr, ok.AllowInsecureRemote = TLSOff, "0.0.0.0:8443", true
	if err := ok.Validate(); err != nil {
		t.Errorf("allow_insecure_remote: %v", err)
	}
	ok.Addr = "localhost:8080"
	ok.AllowInsecureRemote = false
	if err := ok.Validate(); err != nil {
		t.Errorf("tls off on localhost: %v", err)
	}
}
