//! HTTPS targets: one rustls client configuration per run (system roots, `--cacert FILE`, or
//! `--insecure`) shared by every connection, and the server name each instance's connections
//! present (its host from `--url`, `--endpoints` or the registry).
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--cacert {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("--cacert {}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("--cacert {}: {source}", path.display())]
    BadCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("no trusted root certificates on this system: pass --cacert FILE or --insecure")]
    NoSystemRoots,
    #[error("{name:?} is not a name a TLS server can present")]
    BadServerName { name: String },
    #[error(
        "--cacert and --insecure are for HTTPS targets: an https:// --url, --scheme https, or a \
         SERVICE whose instances are HTTPS"
    )]
    NotHttps,
    #[error("TLS setup: {0}")]
    Setup(#[from] rustls::Error),
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's root certificates.
    System,
    /// Only the certificates in this PEM file (a private CA or a self-signed server: a server
    /// that presents exactly one of them is trusted for the names it carries).
    CaFile(PathBuf),
    /// Nothing is checked: for a test server whose certificate nobody signed.
    Insecure,
}

impl Trust {
    /// The trust `--cacert` and `--insecure` ask for (clap keeps them apart).
    pub fn from_flags(cacert: Option<&Path>, insecure: bool) -> Trust {
        match (cacert, insecure) {
            (Some(path), _) => Trust::CaFile(path.to_path_buf()),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::System,
        }
    }
}

/// What every HTTPS connection of a run shares.
#[derive(Clone)]
pub struct TlsClient {
    pub connector: TlsConnector,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient").finish_non_exhaustive()
    }
}

/// The name an instance's certificate is checked against: `host` as a DNS name or an IP
/// address (brackets of an IPv6 literal dropped).
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| TlsError::BadServerName {
        name: host.to_string(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClient {
    /// The run's client. HTTP/1.1 is the one protocol offered (ALPN), as the exchange speaks
    /// nothing else.
    pub fn new(trust: &Trust) -> Result<TlsClient, TlsError> {
        TlsClient::offering(trust, b"http/1.1")
    }

    /// A `--grpc` run's client: ALPN `h2`, which gRPC servers require.
    pub fn for_grpc(trust: &Trust) -> Result<TlsClient, TlsError> {
        TlsClient::offering(trust, b"h2")
    }

    fn offering(trust: &Trust, alpn: &[u8]) -> Result<TlsClient, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::any()))
                .with_no_client_auth(),
            Trust::CaFile(path) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::ca_file(path)?))
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// The certificates of a `--cacert` file, at least one.
pub(crate) fn certificates_in(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::ReadCa {
            path: path.to_path_buf(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

fn roots_from(
    path: &Path,
    certificates: &[CertificateDer<'static>],
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates.iter().cloned() {
        roots
            .add(certificate)
            .map_err(|source| TlsError::BadCertificate {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    // Unreadable entries are skipped, as curl and browsers do; none at all is an error.
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::NoSystemRoots);
    }
    Ok(roots)
}

/// How a server's certificate is checked beyond the handshake's signatures, which are always
/// checked (so the connection is the one the certificate's key made).
#[derive(Debug)]
enum Check {
    /// `--insecure`: any certificate is accepted.
    Any,
    /// `--cacert FILE`: the file's certificates are the roots (a private CA signed the server's
    /// certificate), and each is also pinned as a server's own. A self-signed certificate made
    /// the usual way (`openssl req -x509`) is marked CA:TRUE, which WebPKI refuses as a server's
    /// certificate even when it is a trusted root; curl accepts it. So a server that presents
    /// exactly one of the file's certificates is trusted when that certificate names the server
    /// (its SAN or IP address); its dates are not checked for such a pinned certificate.
    CaFile {
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn any() -> Verifier {
        Verifier {
            check: Check::Any,
            provider: provider(),
        }
    }

    fn ca_file(path: &Path) -> Result<Verifier, TlsError> {
        let pinned = certificates_in(path)?;
        let roots = roots_from(path, &pinned)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Setup(rustls::Error::General(e.to_string())))?;
        Ok(Verifier {
            check: Check::CaFile { webpki, pinned },
            provider: provider(),
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Check::CaFile { webpki, pinned } = &self.check else {
            return Ok(ServerCertVerified::assertion());
        };
        let refused = match webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        if !pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return Err(refused);
        }
        let certificate = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("pinned certificate: {e}")))?;
        certificate
            .verify_is_valid_for_subject_name(server_name)
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
            })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate as `openssl req -x509` makes it: CA:TRUE, SAN 127.0.0.1.
    fn self_signed_ca(dir: &Path, name: &str, san: &str) -> (PathBuf, CertificateDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec![san.to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, cert.pem()).unwrap();
        (path, cert.der().clone())
    }

    #[test]
    fn a_pinned_self_signed_ca_certificate_is_trusted_for_its_own_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let (file, presented) = self_signed_ca(dir.path(), "server.pem", "127.0.0.1");
        let verifier = Verifier::ca_file(&file).unwrap();
        let Check::CaFile { webpki, .. } = &verifier.check else {
            unreachable!("a --cacert verifier")
        };
        let name = server_name("127.0.0.1").unwrap();
        // WebPKI alone refuses it (a CA certificate used as the server's own) ...
        assert!(webpki
            .verify_server_cert(&presented, &[], &name, &[], UnixTime::now())
            .is_err());
        // ... the pin accepts it for the address it names,
        assert!(verifier
            .verify_server_cert(&presented, &[], &name, &[], UnixTime::now())
            .is_ok());
        // and for no other name.
        let other = server_name("127.0.0.2").unwrap();
        assert!(verifier
            .verify_server_cert(&presented, &[], &other, &[], UnixTime::now())
            .is_err());
        // A certificate that is not in the file is refused, though it looks the same.
        let (_, stranger) = self_signed_ca(dir.path(), "other.pem", "127.0.0.1");
        assert!(verifier
            .verify_server_cert(&stranger, &[], &name, &[], UnixTime::now())
            .is_err());
    }
}
