//! HTTPS targets: one rustls client configuration per run (system roots, `--cacert FILE`, or
//! `--insecure`) shared by every connection, and the server name each instance's connections
//! present (its host from `--url`, `--endpoints` or the registry).
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
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
    /// Only the certificates in this PEM file (a private CA or a self-signed server).
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
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?;
        let mut config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                .with_no_client_auth(),
            Trust::CaFile(path) => builder
                .with_root_certificates(roots_from(path)?)
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

fn roots_from(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
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
    for certificate in certificates {
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

/// `--insecure`: any certificate is accepted, but the handshake's signatures are still checked
/// so the connection is the one the certificate's key made.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
