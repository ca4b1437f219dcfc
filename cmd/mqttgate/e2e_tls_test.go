package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"mqttgate/gatetest"
)

// TestMQTTOverTLS runs the optional MQTT TLS listener with a certificate
// from the config and connects a device with the CA pinned.
func TestMQTTOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	g := gatetest.Start(t, gatetest.Options{YAML: gatetest.BaseYAML + `
mqtt:
  tls_addr: 127.0.0.1:0
  tls_cert: ` + certFile + `
  tls_key: ` + keyFile + `
`})
	tlsAddr := g.MQTTTLSAddr
	b := new(gatetest.Recorder)
	sub := connectV3(t, g, "admin", g.AdminPassword(), "plain-sub", true)
	subscribe(t, sub, "secure/#", 1, b)

	c, err := dialV3(g, "admin", g.AdminPassword(), "tls-dev", true, func(o *paho.ClientOptions) {
		o.Servers = nil
		o.AddBroker("ssl://" + tlsAddr)
		o.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	})
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	defer c.Disconnect(50)
	publish(t, c, "secure/hello", 1, false, "over tls")
	if m, ok := b.Within(10*time.Second, topicIs("secure/hello")); !ok || m.Payload != "over tls" {
		t.Errorf("message over TLS not delivered: %+v", m)
	}

	// A client that does not trust the certificate is refused by TLS.
	_, err = dialV3(g, "admin", g.AdminPassword(), "tls-bad", true, func(o *paho.ClientOptions) {
		o.Servers = nil
		o.AddBroker("ssl://" + tlsAddr)
		o.SetTLSConfig(&tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"})
	})
	if err == nil {
		t.Error("a client without the CA connected")
	}
	// TLS 1.1 is refused.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsAddr, &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("TLS 1.1 accepted")
	}
}

func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "mqtt.crt"), filepath.Join(dir, "mqtt.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
