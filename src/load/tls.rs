//! HTTPS targets: one rustls client configuration per run (system roots, `--cacert FILE`, or
//! `--insecure`), and the server name every connection presents.
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
    #[error("--cacert and --insecure are for https:// URLs")]
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

/// What every HTTPS connection of a run shares.
#[derive(Clone)]
pub struct TlsTarget {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTarget")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsTarget {
    /// A client for `host` (a DNS name or an IP address). HTTP/1.1 is the one protocol
    /// offered (ALPN), as the exchange speaks nothing else.
    pub fn new(host: &str, trust: &Trust) -> Result<TlsTarget, TlsError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| TlsError::BadServerName {
                name: host.to_string(),
            })?;
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
        Ok(TlsTarget {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
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

/// The TLS client for `url`: `None` for http://. `--cacert` or `--insecure` given for an
/// http:// URL are a mistake, said so rather than ignored.
pub fn tls_for(
    url: &url::Url,
    cacert: Option<&Path>,
    insecure: bool,
) -> Result<Option<TlsTarget>, TlsError> {
    if url.scheme() != "https" {
        return if cacert.is_some() || insecure {
            Err(TlsError::NotHttps)
        } else {
            Ok(None)
        };
    }
    let trust = match (cacert, insecure) {
        (Some(path), _) => Trust::CaFile(path.to_path_buf()),
        (None, true) => Trust::Insecure,
        (None, false) => Trust::System,
    };
    TlsTarget::new(url.host_str().unwrap_or_default(), &trust).map(Some)
}
