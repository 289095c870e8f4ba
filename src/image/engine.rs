//! The little of the Docker Engine API the native path needs: is an engine answering
//! (`GET /_ping`), and `POST /images/load` of a docker-archive. Spoken over the engine's unix
//! socket (or tcp://) with hyper, the HTTP stack hale already carries.
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// Where the engine listens: DOCKER_HOST, or the default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineHost {
    Unix(std::path::PathBuf),
    Tcp(String),
}

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("DOCKER_HOST={0:?} is not unix://PATH or tcp://HOST:PORT")]
    BadHost(String),
    #[error("no Docker Engine answers at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("the Docker Engine at {host} refused the request: {message}")]
    Refused { host: String, message: String },
}

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

impl EngineHost {
    /// From DOCKER_HOST's value (None: the default socket).
    pub fn parse(docker_host: Option<&str>) -> Result<EngineHost, EngineError> {
        match docker_host.filter(|h| !h.is_empty()) {
            None => Ok(EngineHost::Unix(DEFAULT_SOCKET.into())),
            Some(h) => {
                if let Some(p) = h.strip_prefix("unix://") {
                    Ok(EngineHost::Unix(p.into()))
                } else if let Some(a) = h.strip_prefix("tcp://") {
                    Ok(EngineHost::Tcp(a.trim_end_matches('/').to_string()))
                } else {
                    Err(EngineError::BadHost(h.to_string()))
                }
            }
        }
    }
}

impl std::fmt::Display for EngineHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineHost::Unix(p) => write!(f, "unix://{}", p.display()),
            EngineHost::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

async fn exchange(
    host: &EngineHost,
    method: http::Method,
    path: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), EngineError> {
    let unreachable = |reason: String| EngineError::Unreachable {
        host: host.to_string(),
        reason,
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Host", "docker")
        .header("Content-Type", "application/x-tar")
        .body(Full::new(body))
        .map_err(|e| unreachable(e.to_string()))?;
    round_trip(host, req, timeout).await.map_err(unreachable)
}

/// One request to the engine on a connection of its own, with a deadline; the error is the
/// reason, for the caller's own "unreachable" error (the build path's and the fleet's).
pub(crate) async fn round_trip(
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
            EngineHost::Tcp(a) => {
                let stream = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|e| e.to_string())?;
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

/// Does an engine answer at `host`?
pub async fn ping(host: &EngineHost) -> Result<(), EngineError> {
    let (status, body) = exchange(
        host,
        http::Method::GET,
        "/_ping",
        Bytes::new(),
        Duration::from_secs(3),
    )
    .await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(EngineError::Refused {
            host: host.to_string(),
            message: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Load a docker-archive into the engine.
pub async fn load(host: &EngineHost, archive: Vec<u8>) -> Result<(), EngineError> {
    let (status, body) = exchange(
        host,
        http::Method::POST,
        "/images/load?quiet=1",
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
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            EngineHost::parse(None).unwrap(),
            EngineHost::Unix(DEFAULT_SOCKET.into())
        );
        assert_eq!(
            EngineHost::parse(Some("unix:///tmp/d.sock"))
                .unwrap()
                .to_string(),
            "unix:///tmp/d.sock"
        );
        assert!(EngineHost::parse(Some("ssh://x")).is_err());
    }

    #[tokio::test]
    async fn a_socket_nobody_listens_on_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let host = EngineHost::Unix(dir.path().join("none.sock"));
        assert!(matches!(
            ping(&host).await,
            Err(EngineError::Unreachable { .. })
        ));
    }
}
