package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mqttgate/gatetest"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// serverCert issues a certificate for 127.0.0.1 and returns PEM cert, key.
func (ca *testCA) serverCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUplinkTLS: the uplink reaches a TLS upstream signed by the
// configured CA and delivers; with another CA the connection is refused
// and the reason is in the state.
func TestUplinkTLS(t *testing.T) {
	ca, wrong := newTestCA(t, "upstream test CA"), newTestCA(t, "some other CA")
	dir := t.TempDir()
	certPEM, keyPEM := ca.serverCert(t)
	caFile := writeFile(t, dir, "ca.pem", ca.pem)
	wrongFile := writeFile(t, dir, "wrong.pem", wrong.pem)
	up := gatetest.StartMosquitto(t, gatetest.MosquittoOptions{Extra: fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\n",
		caFile, writeFile(t, dir, "server.pem", certPEM), writeFile(t, dir, "server.key", keyPEM))})
	url := "ssl://" + up.Addr()

	local := startLocalBroker(t)
	cfg := outageConfig(url)
	cfg.CAFile = caFile
	u, err := New(cfg, testLogger(t), local, "gw-1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, u)
	eventually(t, "TLS uplink connected", func() bool { return u.State().Connected })
	if err := local.Publish("test", "gw-1/sensors/t", []byte("21.5"), false, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "message acknowledged over TLS", func() bool { s := u.State(); return s.Sent >= 1 && s.QueueMessages == 0 })

	cfg.Name = "wrongca"
	cfg.CAFile = wrongFile
	bad, err := New(cfg, testLogger(t), local, "gw-1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runUplink(t, bad)
	eventually(t, "certificate error in the state", func() bool {
		return strings.Contains(bad.State().LastError, "certificate signed by unknown authority")
	})
	if bad.State().Connected {
		t.Fatal("uplink with the wrong CA is connected")
	}
	t.Logf("wrong CA: %s", bad.State().LastError)
}
