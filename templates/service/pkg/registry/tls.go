package registry

// TLS to Consul and etcd from their own clients' standard environment variables, so a service
// configured like `consul` and `etcdctl` on the same machine reaches the same agent:
//
//	Consul: CONSUL_HTTP_SSL=true (or CONSUL_CACERT/CONSUL_CLIENT_CERT set) turns HTTPS on;
//	        CONSUL_CACERT (PEM file), CONSUL_CAPATH (folder of PEM files), CONSUL_CLIENT_CERT
//	        and CONSUL_CLIENT_KEY (mutual TLS), CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY=false.
//	etcd:   ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY (any of them turns TLS on),
//	        ETCDCTL_INSECURE_SKIP_TLS_VERIFY=true.
//
// Without them both are plain HTTP/gRPC, as before.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// tlsSettings are the variables of one client, read once.
type tlsSettings struct {
	on         bool
	caFile     string
	caPath     string
	certFile   string
	keyFile    string
	serverName string
	skipVerify bool
	// prefix names the variables in errors (CONSUL_ or ETCDCTL_).
	prefix string
}

func consulTLSSettings(getenv func(string) string) (tlsSettings, error) {
	s := tlsSettings{
		caFile:     getenv("CONSUL_CACERT"),
		caPath:     getenv("CONSUL_CAPATH"),
		certFile:   getenv("CONSUL_CLIENT_CERT"),
		keyFile:    getenv("CONSUL_CLIENT_KEY"),
		serverName: getenv("CONSUL_TLS_SERVER_NAME"),
		prefix:     "CONSUL_",
	}
	ssl, err := envBool(getenv, "CONSUL_HTTP_SSL", false)
	if err != nil {
		return s, err
	}
	verify, err := envBool(getenv, "CONSUL_HTTP_SSL_VERIFY", true)
	if err != nil {
		return s, err
	}
	s.skipVerify = !verify
	s.on = ssl || s.caFile != "" || s.caPath != "" || s.certFile != ""
	return s, nil
}

func etcdTLSSettings(getenv func(string) string) (tlsSettings, error) {
	s := tlsSettings{
		caFile:   getenv("ETCDCTL_CACERT"),
		certFile: getenv("ETCDCTL_CERT"),
		keyFile:  getenv("ETCDCTL_KEY"),
		prefix:   "ETCDCTL_",
	}
	skip, err := envBool(getenv, "ETCDCTL_INSECURE_SKIP_TLS_VERIFY", false)
	if err != nil {
		return s, err
	}
	s.skipVerify = skip
	s.on = s.caFile != "" || s.certFile != "" || s.keyFile != "" || skip
	return s, nil
}

func envBool(getenv func(string) string, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("registry: %s=%q: use true or false", name, v)
	}
	return b, nil
}

// config builds the client's TLS configuration, or nil when TLS is off. Every file is read
// here, so a wrong path fails registry.New with the variable's name, not the first request.
func (s tlsSettings) config() (*tls.Config, error) {
	if !s.on {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.serverName, InsecureSkipVerify: s.skipVerify} //nolint:gosec // only when the user's variable says so
	if s.caFile != "" || s.caPath != "" {
		pool := x509.NewCertPool()
		files := []string{}
		if s.caFile != "" {
			files = append(files, s.caFile)
		}
		if s.caPath != "" {
			matches, err := filepath.Glob(filepath.Join(s.caPath, "*.pem"))
			if err != nil || len(matches) == 0 {
				return nil, fmt.Errorf("registry: %sCAPATH=%s: no *.pem file in that folder", s.prefix, s.caPath)
			}
			files = append(files, matches...)
		}
		for _, f := range files {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("registry: reading the CA certificates %s: %w", f, err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("registry: %s holds no PEM certificate", f)
			}
		}
		cfg.RootCAs = pool
	}
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, errors.New("registry: a client certificate needs both " + s.prefix + certVar(s.prefix) + " and " + s.prefix + keyVar(s.prefix))
	}
	if s.certFile != "" {
		pair, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
		if err != nil {
			return nil, fmt.Errorf("registry: the client certificate %s / %s: %w", s.certFile, s.keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func certVar(prefix string) string {
	if prefix == "CONSUL_" {
		return "CLIENT_CERT"
	}
	return "CERT"
}

func keyVar(prefix string) string {
	if prefix == "CONSUL_" {
		return "CLIENT_KEY"
	}
	return "KEY"
}
