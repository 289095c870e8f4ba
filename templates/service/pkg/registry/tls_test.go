package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// writeCA makes a self-signed CA and returns its PEM file and the pair for a server.
func writeCA(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "registry test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"registry.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pair
}

func TestTLSForConsulIsOffByDefaultAndOnWithItsVariables(t *testing.T) {
	s, err := consulTLSSettings(envOf(nil))
	if err != nil || s.on {
		t.Fatalf("no variables: on=%v err=%v", s.on, err)
	}
	if cfg, err := s.config(); cfg != nil || err != nil {
		t.Fatalf("no variables: config %v, %v", cfg, err)
	}
	s, err = consulTLSSettings(envOf(map[string]string{"CONSUL_HTTP_SSL": "true"}))
	if err != nil || !s.on {
		t.Fatalf("CONSUL_HTTP_SSL=true: on=%v err=%v", s.on, err)
	}
	if _, err := consulTLSSettings(envOf(map[string]string{"CONSUL_HTTP_SSL": "yes please"})); err == nil ||
		!strings.Contains(err.Error(), "CONSUL_HTTP_SSL") {
		t.Fatalf("a bad boolean names its variable: %v", err)
	}
}

func TestTLSForEtcdNeedsBothHalvesOfAClientCertificate(t *testing.T) {
	s, err := etcdTLSSettings(envOf(map[string]string{"ETCDCTL_CERT": "/x/cert.pem"}))
	if err != nil || !s.on {
		t.Fatalf("on=%v err=%v", s.on, err)
	}
	if _, err := s.config(); err == nil || !strings.Contains(err.Error(), "ETCDCTL_KEY") {
		t.Fatalf("a certificate without its key names ETCDCTL_KEY: %v", err)
	}
}

func TestAMissingCAFileFailsNewWithItsPath(t *testing.T) {
	t.Setenv("CONSUL_CACERT", "/nonexistent/ca.pem")
	_, err := New("consul://127.0.0.1:8501", nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Fatalf("New must fail naming the CA file: %v", err)
	}
}

// TestTLSToConsulWithTheTrustedCA: the Consul backend speaks HTTPS to an agent whose certificate the CONSUL_CACERT file trusts,
// and checks the name it asks for (CONSUL_TLS_SERVER_NAME).
func TestTLSToConsulWithTheTrustedCA(t *testing.T) {
	dir := t.TempDir()
	caFile, pair := writeCA(t, dir)
	var seen atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")

	t.Setenv("CONSUL_CACERT", caFile)
	t.Setenv("CONSUL_TLS_SERVER_NAME", "registry.test")
	c, err := newConsul(host)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.base, "https://") {
		t.Fatalf("base %q", c.base)
	}
	resp, err := c.do(t.Context(), http.MethodPut, "/v1/agent/service/deregister/x", nil)
	if err != nil {
		t.Fatalf("HTTPS to the agent: %v", err)
	}
	_ = resp.Body.Close()
	if n := seen.Load(); n != 1 {
		t.Fatalf("the agent saw %d requests, want 1", n)
	}

	// The same agent under another name is refused: the name is checked.
	t.Setenv("CONSUL_TLS_SERVER_NAME", "other.test")
	c, err = newConsul(host)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.do(t.Context(), http.MethodPut, "/v1/agent/service/deregister/x", nil); err == nil {
		_ = resp.Body.Close()
		t.Fatal("a certificate for another name was accepted")
	}
}
