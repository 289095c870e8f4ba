package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for cn, for a server (127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, cn string, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves 200 on a loopback TLS listener with cfg until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// servedCN connects with a client trusting ca (and presenting clientCert if set) and returns
// the CommonName of the certificate the server presented.
func servedCN(addr string, ca *testCA, clientCert *tls.Certificate) (string, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	cfg := &tls.Config{RootCAs: pool}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
}

// The listener serves the certificate in TLS_CERT_FILE/TLS_KEY_FILE, picks up a renewed pair
// written over them without a restart, and keeps the old one while a new pair does not load.
func TestTLSCertificateIsReloadedWhenItsFilesChange(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := ca.issue(t, "first", 2, false)
	old := time.Now().Add(-time.Minute)
	writeFile(t, certFile, c1, old)
	writeFile(t, keyFile, k1, old)
	certs, err := NewCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	certs.CheckInterval = 0 // every handshake looks; the test sets modification times itself
	addr := serveTLS(t, &tls.Config{GetCertificate: certs.GetCertificate})
	if cn, err := servedCN(addr, ca, nil); err != nil || cn != "first" {
		t.Fatalf("first certificate: %q, %v", cn, err)
	}

	// A half-written renewal (the key missing its match) is not taken.
	c2, k2 := ca.issue(t, "second", 3, false)
	writeFile(t, certFile, c2, time.Now())
	if cn, err := servedCN(addr, ca, nil); err != nil || cn != "first" {
		t.Fatalf("with a mismatched pair on disk: %q, %v; want the first certificate kept", cn, err)
	}
	writeFile(t, keyFile, k2, time.Now().Add(time.Second))
	if cn, err := servedCN(addr, ca, nil); err != nil || cn != "second" {
		t.Fatalf("after renewal: %q, %v; want the second certificate", cn, err)
	}
}

// With TLS_CLIENT_CA_FILE a client must present a certificate that CA signed.
func TestMutualTLSRequiresAClientCertificateFromTheClientCA(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, stranger := newTestCA(t), newTestCA(t), newTestCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "client-ca.crt")
	c, k := serverCA.issue(t, "server", 2, false)
	writeFile(t, certFile, c, time.Now())
	writeFile(t, keyFile, k, time.Now())
	writeFile(t, caFile, clientCA.pem, time.Now())
	cfg, err := TLSConfig(certFile, keyFile, caFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, cfg)
	pair := func(ca *testCA) *tls.Certificate {
		cp, kp := ca.issue(t, "client", 9, true)
		cert, err := tls.X509KeyPair(cp, kp)
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	if _, err := servedCN(addr, serverCA, nil); err == nil {
		t.Error("a client without a certificate was served")
	}
	if _, err := servedCN(addr, serverCA, pair(stranger)); err == nil {
		t.Error("a client certificate from another CA was accepted")
	}
	if _, err := servedCN(addr, serverCA, pair(clientCA)); err != nil {
		t.Errorf("a client certificate from TLS_CLIENT_CA_FILE was refused: %v", err)
	}
}
