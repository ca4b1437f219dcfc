package ws

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// certStore holds the serving certificate and re-reads it on demand. It is
// safe for concurrent use.
type certStore struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.RWMutex
	cert *tls.Certificate
	sig  string // mtimes and sizes of the files the cert was loaded from
}

// Fingerprint formats the SHA-256 of a DER certificate as upper-case hex
// pairs separated by colons, as `openssl x509 -fingerprint -sha256` does.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// loadPair reads and checks a certificate/key pair.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// fileSig describes the files' mtimes and sizes, to notice changes.
func fileSig(files ...string) string {
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return b.String()
}

// newCertStore loads certFile/keyFile; a bad pair is an error.
func newCertStore(certFile, keyFile string, log *slog.Logger) (*certStore, error) {
	s := &certStore{certFile: certFile, keyFile: keyFile, log: log}
	sig := fileSig(certFile, keyFile)
	c, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("ws: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	s.cert, s.sig = c, sig
	return s, nil
}

// get serves tls.Config.GetCertificate.
func (s *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cert, nil
}

// current returns the serving certificate.
func (s *certStore) current() *tls.Certificate {
	c, _ := s.get(nil)
	return c
}

// reload re-reads the pair. If force is false it does so only when the
// files changed since the last attempt. On failure it keeps the old
// certificate, logs and returns the error.
func (s *certStore) reload(force bool) error {
	sig := fileSig(s.certFile, s.keyFile)
	s.mu.RLock()
	same := sig == s.sig
	s.mu.RUnlock()
	if same && !force {
		return nil
	}
	c, err := loadPair(s.certFile, s.keyFile)
	s.mu.Lock()
	s.sig = sig // do not retry a bad pair until the files change again
	if err == nil {
		s.cert = c
	}
	s.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("ws: reload certificate %s and key %s: %w", s.certFile, s.keyFile, err)
		s.log.Error("certificate reload failed; keeping the old certificate", "err", err)
		return err
	}
	s.log.Info("certificate reloaded", "cert", s.certFile, "sha256", Fingerprint(c.Certificate[0]), "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// autoCert loads DataDir/tls/{cert,key}.pem, generating a self-signed
// certificate there on first use or when the old one has expired.
func autoCert(dataDir string, log *slog.Logger) (*certStore, error) {
	dir := filepath.Join(dataDir, "tls")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	switch {
	case errC == nil && errK == nil:
		s, err := newCertStore(certFile, keyFile, log)
		if err != nil {
			return nil, fmt.Errorf("%w; delete both files to have a new self-signed certificate generated", err)
		}
		if time.Now().Before(s.cert.Leaf.NotAfter) {
			return s, nil
		}
		log.Warn("self-signed certificate has expired; generating a new one", "cert", certFile, "not_after", s.cert.Leaf.NotAfter)
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
	case errC != nil && !errors.Is(errC, fs.ErrNotExist):
		return nil, fmt.Errorf("ws: tls auto: %w", errC)
	case errK != nil && !errors.Is(errK, fs.ErrNotExist):
		return nil, fmt.Errorf("ws: tls auto: %w", errK)
	default:
		return nil, fmt.Errorf("ws: tls auto: only one of %s and %s exists; restore the other or delete both to generate a new certificate", certFile, keyFile)
	}
	certPEM, keyPEM, err := selfSigned(time.Now())
	if err != nil {
		return nil, fmt.Errorf("ws: tls auto: generate certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ws: tls auto: %w", err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("ws: tls auto: write key: %w", err)
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("ws: tls auto: write certificate: %w", err)
	}
	log.Info("generated self-signed certificate", "cert", certFile)
	return newCertStore(certFile, keyFile, log)
}

// selfSigned makes an ECDSA P-256 certificate valid for ten years for the
// host name, localhost and the machine's addresses.
func selfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	names, ips := certNames()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"mqttgate self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so clients can pin it as their root
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// certNames lists the DNS names and IP addresses for the certificate.
func certNames() ([]string, []net.IP) {
	var names []string
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
		if !strings.Contains(h, ".") {
			names = append(names, h+".local") // mDNS, e.g. raspberrypi.local
		}
	}
	names = append(names, "localhost")
	ips := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				ips = append(ips, n.IP)
			}
		}
	}
	return names, ips
}

// writeFileAtomic writes data to a temporary file, syncs it and renames it
// over path, so a power cut leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// tlsConfig returns the server TLS configuration serving s's certificate.
func tlsConfig(s *certStore) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.get,
		NextProtos:     []string{"http/1.1"}, // WebSocket upgrades need HTTP/1.1
	}
}

// PEM returns the certificate chain in PEM form.
func (s *certStore) PEM() []byte {
	var b bytes.Buffer
	for _, der := range s.current().Certificate {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}
