//! An HTTPS/1.1 keep-alive server with a certificate made for the test (rcgen), or the same
//! server over plain HTTP: answers every request `200 ok` and counts the TCP connections it
//! accepted and the requests it answered. On 127.0.0.1 for local runs, or on another local
//! address (the test cluster's bridge gateway, which the node's pods reach) for on-cluster runs.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

pub struct TlsTestServer {
    pub addr: SocketAddr,
    /// The certificate, PEM: what `--cacert` trusts.
    pub cert_pem: String,
    pub accepted: Arc<AtomicU64>,
    pub served: Arc<AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsTestServer {
    /// On 127.0.0.1, for `localhost` and 127.0.0.1.
    pub fn start() -> TlsTestServer {
        TlsTestServer::on(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// On `ip` (a free port), its certificate for `ip` (and `localhost`).
    pub fn on(ip: IpAddr) -> TlsTestServer {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), ip.to_string()]).unwrap();
        TlsTestServer::serving(ip, certified.cert, certified.key_pair)
    }

    /// A self-signed certificate marked CA:TRUE, as `openssl req -x509` makes it by default.
    /// Plain HTTP on `ip` (a free port): `cert_pem` is empty.
    pub fn plain_on(ip: IpAddr) -> TlsTestServer {
        TlsTestServer::listening(ip, None, String::new())
    }

    pub fn start_with_a_ca_certificate() -> TlsTestServer {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TlsTestServer::serving(IpAddr::V4(Ipv4Addr::LOCALHOST), cert, key)
    }

    fn serving(ip: IpAddr, cert: rcgen::Certificate, key_pair: rcgen::KeyPair) -> TlsTestServer {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        TlsTestServer::listening(ip, Some(acceptor), cert.pem())
    }

    fn listening(
        ip: IpAddr,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        cert_pem: String,
    ) -> TlsTestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(TcpListener::bind(SocketAddr::new(ip, 0)))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let served = Arc::new(AtomicU64::new(0));
        let (accepted_count, served_count) = (accepted.clone(), served.clone());
        runtime.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                accepted_count.fetch_add(1, Ordering::Relaxed);
                let acceptor = acceptor.clone();
                let served = served_count.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(socket).await {
                                answer(tls, served).await;
                            }
                        }
                        None => answer(socket, served).await,
                    }
                });
            }
        });
        TlsTestServer {
            addr,
            cert_pem,
            accepted,
            served,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.cert_pem.is_empty() {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}/", self.addr)
    }

    /// Its certificate written to `dir/ca.pem`, for `--cacert`.
    pub fn trust_file(&self, dir: &Path) -> PathBuf {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &self.cert_pem).unwrap();
        ca
    }
}

/// `200 ok` to every request on one connection, counted.
async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, served: Arc<AtomicU64>) {
    let response: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = head_end(&buf) {
            buf.drain(..end);
            served.fetch_add(1, Ordering::Relaxed);
            if stream.write_all(response).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
    }
}

/// The end of a request head (requests carry no body here).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}
