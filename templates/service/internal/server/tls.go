package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertReloader serves the certificate in a pair of PEM files and picks up a new pair written
// over them (cert-manager renewing a Secret, a rotated file) without a restart: a handshake
// looks at the files' modification times at most once per CheckInterval and loads them again
// when they changed. A pair that fails to load (half-written, mismatched) is logged and the
// previous certificate stays in use.
type CertReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	// CheckInterval is how often handshakes look at the files (1s).
	CheckInterval time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]time.Time // modification times of the loaded pair
	lastCheck time.Time
}

// NewCertReloader loads the pair once; an error here is the caller's to report.
func NewCertReloader(certFile, keyFile string, logger *slog.Logger) (*CertReloader, error) {
	r := &CertReloader{certFile: certFile, keyFile: keyFile, logger: logger, CheckInterval: time.Second}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	r.cert, r.stamp, r.lastCheck = &cert, stamp, time.Now()
	return r, nil
}

func (r *CertReloader) stamps() ([2]time.Time, error) {
	var out [2]time.Time
	for i, f := range [2]string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return out, err
		}
		out[i] = fi.ModTime()
	}
	return out, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastCheck) >= r.CheckInterval {
		r.lastCheck = now
		if stamp, err := r.stamps(); err == nil && stamp != r.stamp {
			cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
			if err != nil {
				r.logger.Warn("TLS certificate changed but does not load; keeping the previous one", "error", err)
			} else {
				r.cert, r.stamp = &cert, stamp
				r.logger.Info("TLS certificate reloaded", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// TLSConfig is the public listener's TLS configuration: the reloading certificate and, when
// clientCAFile is set, mutual TLS (a client certificate signed by that CA is required).
func TLSConfig(certFile, keyFile, clientCAFile string, logger *slog.Logger) (*tls.Config, error) {
	certs, err := NewCertReloader(certFile, keyFile, logger)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading TLS_CLIENT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("TLS_CLIENT_CA_FILE holds no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
