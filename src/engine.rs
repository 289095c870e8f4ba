//! The one Docker Engine client: where the engine listens, resolved once from the environment as
//! the docker CLI does, and one request over a connection of its own (hyper; TLS with the
//! client certificate when the engine asks for it). The build path (`image::engine_build`,
//! bollard) and the container fleet (`fleet::docker`) both connect through [`EngineHost`].
//!
//! Resolution, first match wins: `DOCKER_HOST` (`unix://PATH`, `tcp://HOST[:PORT]`; `ssh://` is
//! refused) with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`; then the docker context named by
//! `DOCKER_CONTEXT` or `currentContext` in `$DOCKER_CONFIG/config.json` (its
//! `contexts/meta/<sha256 of the name>/meta.json`, TLS files under `contexts/tls/`); then the
//! default socket.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use sha2::Digest as _;

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineHost {
    Unix(PathBuf),
    /// `HOST:PORT`, over TLS with a client certificate when `tls` is set.
    Tcp {
        addr: String,
        tls: Option<TlsFiles>,
    },
}

/// The PEM files of a TLS engine (`ca.pem`, `cert.pem`, `key.pem` in one folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    fn missing(&self) -> Option<&Path> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .find(|p| !p.is_file())
            .map(PathBuf::as_path)
    }
}

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{from}={0:?} is not unix://PATH or tcp://HOST[:PORT]", from = .1)]
    BadHost(String, &'static str),
    #[error("{from}={0:?}: hale does not reach engines over ssh; forward the socket (`ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST`) and set DOCKER_HOST=unix:///tmp/docker.sock", from = .1)]
    Ssh(String, &'static str),
    #[error("docker context {name:?} ({from}) does not exist: no {}", path.display())]
    NoContext {
        name: String,
        from: &'static str,
        path: PathBuf,
    },
    #[error("{}: {reason}", path.display())]
    BadConfig { path: PathBuf, reason: String },
    #[error("{why}, but {} is missing: {hint}", path.display())]
    TlsFiles {
        why: String,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("no Docker Engine answers at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("the Docker Engine at {host} refused the request: {message}")]
    Refused { host: String, message: String },
}

impl EngineError {
    /// Whether the user's environment names an engine wrongly (exit 2), rather than the engine
    /// failing (exit 1).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            EngineError::Unreachable { .. } | EngineError::Refused { .. }
        )
    }
}

/// The Docker config folder: DOCKER_CONFIG, else ~/.docker.
pub fn docker_config_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

impl EngineHost {
    /// The engine the environment names, as the docker CLI resolves it (see the module doc).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<EngineHost, EngineError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        let config = docker_config_dir(env);
        if let Some(host) = set("DOCKER_HOST") {
            let tls = match set("DOCKER_TLS_VERIFY") {
                Some(_) => {
                    let dir = set("DOCKER_CERT_PATH")
                        .map(PathBuf::from)
                        .unwrap_or(config.clone());
                    Some(TlsFiles::in_dir(&dir))
                }
                None => None,
            };
            let parsed = parse(&host, "DOCKER_HOST", tls)?;
            if let EngineHost::Tcp { tls: Some(t), .. } = &parsed {
                if let Some(path) = t.missing() {
                    return Err(EngineError::TlsFiles {
                        why: "DOCKER_TLS_VERIFY is set".into(),
                        path: path.to_path_buf(),
                        hint: "DOCKER_CERT_PATH names the folder of ca.pem, cert.pem and key.pem",
                    });
                }
            }
            return Ok(parsed);
        }
        let (name, from) = match set("DOCKER_CONTEXT") {
            Some(n) => (n, "DOCKER_CONTEXT"),
            None => match current_context(&config)? {
                Some(n) => (n, "currentContext in config.json"),
                None => return Ok(EngineHost::Unix(DEFAULT_SOCKET.into())),
            },
        };
        if name == "default" {
            return Ok(EngineHost::Unix(DEFAULT_SOCKET.into()));
        }
        context_host(&config, &name, from)
    }

    /// The engine a fleet recorded (`fleet.json`'s `engine`): the same address as the one the
    /// environment names takes its TLS files; any other is reached as recorded. None: the
    /// default socket.
    pub fn recorded(
        recorded: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<EngineHost, EngineError> {
        let Some(text) = recorded.filter(|t| !t.is_empty()) else {
            return Ok(EngineHost::Unix(DEFAULT_SOCKET.into()));
        };
        match EngineHost::from_env(env) {
            Ok(current) if current.to_string() == text => Ok(current),
            _ => parse(text, "the recorded engine", None),
        }
    }

    fn label(&self) -> String {
        self.to_string()
    }
}

/// `unix://PATH` or `tcp://HOST[:PORT]` (2375, or 2376 over TLS, as the docker CLI defaults).
fn parse(text: &str, from: &'static str, tls: Option<TlsFiles>) -> Result<EngineHost, EngineError> {
    if let Some(p) = text.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(EngineError::BadHost(text.into(), from));
        }
        return Ok(EngineHost::Unix(p.into()));
    }
    if text.starts_with("ssh://") {
        return Err(EngineError::Ssh(text.into(), from));
    }
    let Some(rest) = text.strip_prefix("tcp://") else {
        return Err(EngineError::BadHost(text.into(), from));
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(EngineError::BadHost(text.into(), from));
    }
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let has_port = if authority.starts_with('[') {
        authority.rsplit_once("]:").is_some_and(|(_, p)| port_ok(p))
    } else {
        authority.matches(':').count() == 1
            && authority.rsplit_once(':').is_some_and(|(_, p)| port_ok(p))
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        let port = if tls.is_some() { 2376 } else { 2375 };
        if authority.contains(':') && !authority.starts_with('[') {
            format!("[{authority}]:{port}")
        } else {
            format!("{authority}:{port}")
        }
    };
    Ok(EngineHost::Tcp { addr, tls })
}

/// `currentContext` from `config.json`, if the file says one.
fn current_context(config: &Path) -> Result<Option<String>, EngineError> {
    let path = config.join("config.json");
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| EngineError::BadConfig {
            path: path.clone(),
            reason: format!("not valid JSON: {e}"),
        })?;
    Ok(doc["currentContext"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// The docker endpoint of context `name`, stored by `docker context create` under the SHA-256
/// of its name.
fn context_host(config: &Path, name: &str, from: &'static str) -> Result<EngineHost, EngineError> {
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let meta = config
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = std::fs::read(&meta).map_err(|_| EngineError::NoContext {
        name: name.to_string(),
        from,
        path: meta.clone(),
    })?;
    let bad = |reason: String| EngineError::BadConfig {
        path: meta.clone(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let endpoint = &doc["Endpoints"]["docker"];
    let host = endpoint["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad(format!("context {name:?} has no docker endpoint Host")))?;
    if endpoint["SkipTLSVerify"].as_bool() == Some(true) {
        return Err(bad(format!(
            "context {name:?} skips TLS verification, which hale does not do: give it the engine's CA (`docker context update --docker ca=…`)"
        )));
    }
    let tls_dir = config.join("contexts").join("tls").join(&id).join("docker");
    let tls = tls_dir.is_dir().then(|| TlsFiles::in_dir(&tls_dir));
    let parsed = parse(host, "the docker context's Host", tls)?;
    if let EngineHost::Tcp { tls: Some(t), .. } = &parsed {
        if let Some(path) = t.missing() {
            return Err(EngineError::TlsFiles {
                why: format!("docker context {name:?} has TLS material"),
                path: path.to_path_buf(),
                hint: "hale needs ca.pem, cert.pem and key.pem there",
            });
        }
    }
    Ok(parsed)
}

impl std::fmt::Display for EngineHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineHost::Unix(p) => write!(f, "unix://{}", p.display()),
            EngineHost::Tcp { addr, .. } => write!(f, "tcp://{addr}"),
        }
    }
}

/// The rustls client of a TLS engine: its CA only, and the client certificate.
fn tls_config(files: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_err = |p: &Path, e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.ca).map_err(|e| read_err(&files.ca, &e))? {
        roots
            .add(cert.map_err(|e| read_err(&files.ca, &e))?)
            .map_err(|e| read_err(&files.ca, &e))?;
    }
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| read_err(&files.cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(&files.cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| read_err(&files.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// One request to the engine on a connection of its own, with a deadline; the error is the
/// reason, for the caller's own "unreachable" error (the build path's and the fleet's).
pub async fn round_trip(
    host: &EngineHost,
    req: http::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), String> {
    let work = async {
        let resp = match host {
            EngineHost::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| e.to_string())?;
                send(TokioIo::new(stream), req).await
            }
            EngineHost::Tcp { addr, tls: None } => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                send(TokioIo::new(stream), req).await
            }
            EngineHost::Tcp {
                addr,
                tls: Some(files),
            } => {
                let config = tls_config(files)?;
                let host_part = addr
                    .rsplit_once(':')
                    .map_or(addr.as_str(), |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host_part.to_string())
                    .map_err(|e| format!("{host_part}: {e}"))?;
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                send(TokioIo::new(stream), req).await
            }
        }
        .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the engine stopped answering: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}

async fn send<T>(
    io: TokioIo<T>,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    sender.send_request(req).await
}

/// A request with `body` of `content_type` to the engine; the status and the body, or
/// [`EngineError::Unreachable`].
pub async fn exchange(
    host: &EngineHost,
    method: http::Method,
    path: &str,
    content_type: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), EngineError> {
    let unreachable = |reason: String| EngineError::Unreachable {
        host: host.label(),
        reason,
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", "docker")
        .header("Content-Type", content_type)
        .body(Full::new(body))
        .map_err(|e| unreachable(e.to_string()))?;
    round_trip(host, req, timeout).await.map_err(unreachable)
}

/// Does an engine answer at `host`?
pub async fn ping(host: &EngineHost) -> Result<(), EngineError> {
    let (status, body) = exchange(
        host,
        http::Method::GET,
        "/_ping",
        "text/plain",
        Bytes::new(),
        crate::network::deadline(),
    )
    .await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(EngineError::Refused {
            host: host.label(),
            message: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Load a docker-archive into the engine (`POST /images/load`): the native build's `--load`.
pub async fn load(host: &EngineHost, archive: Vec<u8>) -> Result<(), EngineError> {
    let (status, body) = exchange(
        host,
        http::Method::POST,
        "/images/load?quiet=1",
        "application/x-tar",
        Bytes::from(archive),
        Duration::from_secs(300),
    )
    .await?;
    let text = String::from_utf8_lossy(&body);
    // The answer is a stream of JSON messages; a failure is one with "error".
    let error = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string));
    match (status.is_success(), error) {
        (true, None) => Ok(()),
        (_, Some(message)) => Err(EngineError::Refused {
            host: host.to_string(),
            message,
        }),
        (false, None) => Err(EngineError::Refused {
            host: host.to_string(),
            message: text.trim().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
