//! `hale load --grpc`: unary gRPC calls over HTTP/2 (h2: prior knowledge in plain text, ALPN
//! `h2` under TLS) beside the HTTP/1.1 exchange. The request message is built once from JSON
//! (`--body`, as ghz's `-d`) through the descriptor of the method's input type, compiled from
//! the service's `.proto` with protox or asked of the target's server reflection
//! ([`reflection`]); every attempt sends the same framed bytes, with the `-H` metadata
//! ([`metadata`]), on the worker's connection to the instance.
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use rustls::pki_types::ServerName;

use super::tls::TlsClient;
use super::ErrorKind;

pub mod metadata;
pub mod reflection;

/// Why a `--grpc` call cannot be built: all the user's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum GrpcCallError {
    #[error("--proto {path}: {detail}")]
    Proto { path: String, detail: String },
    #[error(
        "--grpc {0:?}: give the method as PACKAGE.SERVICE/METHOD, such as orders.v1.OrderService/Info"
    )]
    MethodSyntax(String),
    #[error("--grpc {method:?}: not in {origin} (it has {known})")]
    NoMethod {
        method: String,
        origin: String,
        known: String,
    },
    #[error("--grpc {0}: streaming methods are not supported; give a unary method")]
    Streaming(String),
    #[error("--body is not JSON of a {message}: {detail}")]
    Body { message: String, detail: String },
}

/// One unary call, ready to send: the request path, the length-prefixed message and the
/// metadata every call carries.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    /// `/package.Service/Method`.
    pub path: String,
    /// The gRPC frame: uncompressed flag, 4-byte big-endian length, the protobuf message.
    pub frame: Bytes,
    /// `-H`: custom metadata, checked by [`metadata::check`].
    pub metadata: Vec<(HeaderName, HeaderValue)>,
}

/// What `--grpc` asks for, before the targets are known.
#[derive(Debug, Clone)]
pub enum GrpcRequest {
    /// Built from `--proto` in the settings stage.
    Call(GrpcCall),
    /// No `--proto`: the descriptors come from the target's server reflection, then the call
    /// is built from `json` and carries `metadata`.
    Reflect {
        method: String,
        json: String,
        metadata: Vec<(HeaderName, HeaderValue)>,
    },
}

/// `--grpc METHOD` split into its service and method names.
pub fn split_method(method: &str) -> Result<(&str, &str), GrpcCallError> {
    method
        .trim_start_matches('/')
        .rsplit_once('/')
        .filter(|(s, m)| !s.is_empty() && !m.is_empty())
        .ok_or_else(|| GrpcCallError::MethodSyntax(method.to_string()))
}

/// Compile `proto` (imports resolved beside it, and Google's well-known types).
pub fn compile_proto(proto: &Path, source: &str) -> Result<DescriptorPool, GrpcCallError> {
    let shown = proto.display().to_string();
    let proto_err = |detail: String| GrpcCallError::Proto {
        path: shown.clone(),
        detail,
    };
    let name = proto
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| proto_err("not a file name".into()))?;
    let dir = match proto.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(Given {
        name: name.to_string(),
        source: source.to_string(),
    });
    resolver.add(protox::file::IncludeFileResolver::new(dir));
    resolver.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler
        .open_file(name)
        .map_err(|e| proto_err(format!("{e}")))?;
    Ok(compiler.descriptor_pool())
}

impl GrpcCall {
    /// Compile `proto` (imports resolved beside it) and build `method`'s request from `json`.
    pub fn build(
        proto: &Path,
        source: &str,
        method: &str,
        json: &str,
    ) -> Result<GrpcCall, GrpcCallError> {
        let pool = compile_proto(proto, source)?;
        let origin = format!("--proto {}", proto.display());
        GrpcCall::from_pool(&pool, &origin, method, json)
    }

    /// Build `method`'s request from `json` through the descriptors in `pool`, which came from
    /// `origin` (named in the error when the method is not there).
    pub fn from_pool(
        pool: &DescriptorPool,
        origin: &str,
        method: &str,
        json: &str,
    ) -> Result<GrpcCall, GrpcCallError> {
        let (service, rpc) = split_method(method)?;
        let found: Option<MethodDescriptor> = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == rpc));
        let Some(found) = found else {
            let known: Vec<String> = pool
                .services()
                .flat_map(|s| {
                    s.methods()
                        .map(|m| format!("{}/{}", s.full_name(), m.name()))
                        .collect::<Vec<_>>()
                })
                .collect();
            return Err(GrpcCallError::NoMethod {
                method: method.to_string(),
                origin: origin.to_string(),
                known: if known.is_empty() {
                    "no services".into()
                } else {
                    known.join(", ")
                },
            });
        };
        if found.is_client_streaming() || found.is_server_streaming() {
            return Err(GrpcCallError::Streaming(format!("{service}/{rpc}")));
        }
        let input = found.input();
        let mut de = serde_json::Deserializer::from_str(json);
        let message = DynamicMessage::deserialize(input.clone(), &mut de)
            .and_then(|m| de.end().map(|()| m))
            .map_err(|e| GrpcCallError::Body {
                message: input.full_name().to_string(),
                detail: e.to_string(),
            })?;
        Ok(GrpcCall {
            path: format!("/{service}/{rpc}"),
            frame: frame(&prost::Message::encode_to_vec(&message)),
            metadata: Vec::new(),
        })
    }
}

/// A message behind gRPC's 5-byte prefix (not compressed, big-endian length).
pub(crate) fn frame(message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(5 + message.len());
    frame.push(0);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}

/// The `.proto` the user named, already read (through `userfile`).
struct Given {
    name: String,
    source: String,
}

impl protox::file::FileResolver for Given {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if name == self.name {
            protox::file::File::from_source(name, &self.source)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// How a gRPC status counts: OK is a success; the codes that mean the caller's mistake count
/// as client errors (as HTTP 4xx); the codes that mean the server or the network failed (as
/// 5xx) are what breakers and retries act on.
pub(super) fn classify(code: u32) -> Option<ErrorKind> {
    match code {
        0 => None,
        // Cancelled, InvalidArgument, NotFound, AlreadyExists, PermissionDenied,
        // FailedPrecondition, OutOfRange, Unauthenticated.
        1 | 3 | 5 | 6 | 7 | 9 | 11 | 16 => Some(ErrorKind::Status4xx),
        // Unknown, DeadlineExceeded, ResourceExhausted, Aborted, Unimplemented, Internal,
        // Unavailable, DataLoss, and anything undefined.
        _ => Some(ErrorKind::Status5xx),
    }
}

/// One HTTP/2 connection to an instance; calls are streams on it.
pub(crate) struct Connection {
    send: h2::client::SendRequest<Bytes>,
    /// `https` when the connection is TLS: the `:scheme` of every call.
    scheme: &'static str,
    /// TLS: how long the handshake took (after the TCP connect).
    pub(crate) handshake: Option<Duration>,
}

/// Why a call on a connection did not return a status.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection was going away (GOAWAY) or refused the stream before the server saw
    /// the call: safe to send again on a new connection.
    Stale,
    /// The connection broke with the call possibly processed.
    Broken,
}

/// Whether h2 says the server never processed the stream.
fn unprocessed(e: &h2::Error) -> bool {
    e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM)
}

/// What one call returned.
pub(crate) struct Answer {
    pub code: u32,
    pub id_mismatch: bool,
}

impl Connection {
    /// Connect and do the HTTP/2 handshake, after the TLS one (ALPN `h2`) with `tls`; the
    /// connection's driver runs as its own task and ends when the connection does.
    pub(crate) async fn open(
        addr: std::net::SocketAddr,
        tls: Option<(&TlsClient, &ServerName<'static>)>,
    ) -> Result<Connection, ErrorKind> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| ErrorKind::Connect)?;
        let _ = tcp.set_nodelay(true);
        let Some((client, name)) = tls else {
            let (send, driver) = h2::client::handshake(tcp)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            tokio::spawn(async move {
                let _ = driver.await;
            });
            return Ok(Connection {
                send,
                scheme: "http",
                handshake: None,
            });
        };
        let started = Instant::now();
        let stream = client
            .connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|_| ErrorKind::Tls)?;
        let handshake = started.elapsed();
        // A server that did not pick h2 speaks no gRPC on this connection.
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(ErrorKind::Tls);
        }
        let (send, driver) = h2::client::handshake(stream)
            .await
            .map_err(|_| ErrorKind::Transport)?;
        tokio::spawn(async move {
            let _ = driver.await;
        });
        Ok(Connection {
            send,
            scheme: "https",
            handshake: Some(handshake),
        })
    }

    /// Start a call of `path` carrying `metadata`: the response to wait for and the stream
    /// to send the request body on.
    async fn start(
        &mut self,
        authority: &str,
        path: &str,
        metadata: &[(HeaderName, HeaderValue)],
    ) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), CallError> {
        let mut send = self
            .send
            .clone()
            .ready()
            .await
            .map_err(|_| CallError::Stale)?;
        let mut request = http::Request::post(format!("{}://{authority}{path}", self.scheme))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .map_err(|_| CallError::Broken)?;
        let headers = request.headers_mut();
        for (name, value) in metadata {
            headers.append(name.clone(), value.clone());
        }
        send.send_request(request, false)
            .map_err(|_| CallError::Stale)
    }

    /// One unary call. An error is a broken connection (the caller drops it); a status is in
    /// the answer.
    pub(crate) async fn call(
        &mut self,
        authority: &str,
        call: &GrpcCall,
        expect_id: Option<&[u8]>,
    ) -> Result<Answer, CallError> {
        let (response, mut stream) = self.start(authority, &call.path, &call.metadata).await?;
        send_body(&mut stream, call.frame.clone())?;
        let response = response.await.map_err(|e| broken_or_stale(&e))?;
        let id_mismatch = match (expect_id, response.headers().get("x-instance-id")) {
            (Some(want), Some(got)) => got.as_bytes() != want,
            _ => false,
        };
        if response.status() != http::StatusCode::OK {
            return Ok(Answer {
                code: 14, // Unavailable, as gRPC clients map a non-200 answer
                id_mismatch,
            });
        }
        // A trailers-only answer carries the status in its headers.
        if let Some(code) = status_code(response.headers()) {
            return Ok(Answer { code, id_mismatch });
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|_| CallError::Broken)?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.map_err(|_| CallError::Broken)?;
        let code = trailers
            .as_ref()
            .and_then(status_code)
            .ok_or(CallError::Broken)?;
        Ok(Answer { code, id_mismatch })
    }

    /// A call that sends `request` (one framed message) and keeps every message of the
    /// answer: the status code and message, and the messages without their prefix. For
    /// reflection, whose answers are small; a body above `limit` bytes is a broken call.
    pub(crate) async fn collect(
        &mut self,
        authority: &str,
        path: &str,
        request: Bytes,
        limit: usize,
    ) -> Result<(u32, String, Vec<Bytes>), CallError> {
        let (response, mut stream) = self.start(authority, path, &[]).await?;
        send_body(&mut stream, request)?;
        let response = response.await.map_err(|e| broken_or_stale(&e))?;
        if response.status() != http::StatusCode::OK {
            let message = format!("HTTP status {}", response.status());
            return Ok((14, message, Vec::new()));
        }
        if let Some(code) = status_code(response.headers()) {
            return Ok((code, status_message(response.headers()), Vec::new()));
        }
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|_| CallError::Broken)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if bytes.len() + chunk.len() > limit {
                return Err(CallError::Broken);
            }
            bytes.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(|_| CallError::Broken)?;
        let trailers = trailers.ok_or(CallError::Broken)?;
        let code = status_code(&trailers).ok_or(CallError::Broken)?;
        let mut messages = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (prefix, after) = rest.split_at_checked(5).ok_or(CallError::Broken)?;
            if prefix[0] != 0 {
                // Compressed, though none was asked for.
                return Err(CallError::Broken);
            }
            let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
            let (message, after) = after.split_at_checked(len).ok_or(CallError::Broken)?;
            messages.push(Bytes::copy_from_slice(message));
            rest = after;
        }
        Ok((code, status_message(&trailers), messages))
    }
}

/// Send a call's request message and end the stream. The server may have answered already
/// and reset the stream with NO_ERROR before the message went out — grpc-go does for an
/// unknown service or method, when the request's HEADERS frame reached it alone (RFC 9113,
/// section 8.1: a complete response before the whole request) — so a failed send is the
/// call's failure only when the stream was never processed; otherwise the answer, which the
/// caller reads next, decides (a connection that broke fails there).
fn send_body(stream: &mut h2::SendStream<Bytes>, message: Bytes) -> Result<(), CallError> {
    match stream.send_data(message, true) {
        Err(e) if unprocessed(&e) => Err(CallError::Stale),
        _ => Ok(()),
    }
}

fn status_message(headers: &http::HeaderMap) -> String {
    headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn broken_or_stale(e: &h2::Error) -> CallError {
    if unprocessed(e) {
        CallError::Stale
    } else {
        CallError::Broken
    }
}

fn status_code(headers: &http::HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str = "syntax = \"proto3\";\npackage orders.v1;\n\
        service OrderService { rpc CreateItem(CreateItemRequest) returns (Item); }\n\
        message CreateItemRequest { string name = 1; int64 quantity = 2; }\n\
        message Item { string id = 1; }\n";

    #[test]
    fn a_json_body_becomes_the_framed_request_message() {
        let call = GrpcCall::build(
            Path::new("api/orders.proto"),
            PROTO,
            "orders.v1.OrderService/CreateItem",
            r#"{"name":"a","quantity":"3"}"#,
        )
        .unwrap();
        assert_eq!(call.path, "/orders.v1.OrderService/CreateItem");
        assert_eq!(&call.frame[..], &[0, 0, 0, 0, 5, 0x0a, 1, b'a', 0x10, 3]);
    }

    #[test]
    fn unknown_methods_and_bad_bodies_are_the_users_mistakes() {
        let err = GrpcCall::build(
            Path::new("o.proto"),
            PROTO,
            "orders.v1.OrderService/Nope",
            "{}",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("orders.v1.OrderService/CreateItem"),
            "{err}"
        );
        let err = GrpcCall::build(Path::new("o.proto"), PROTO, "Info", "{}").unwrap_err();
        assert!(matches!(err, GrpcCallError::MethodSyntax(_)));
        let err = GrpcCall::build(
            Path::new("o.proto"),
            PROTO,
            "orders.v1.OrderService/CreateItem",
            r#"{"nom":1}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--body is not JSON of a orders.v1.CreateItemRequest"),
            "{err}"
        );
    }

    #[test]
    fn server_fault_codes_fail_and_client_codes_are_client_errors() {
        assert_eq!(classify(0), None);
        assert_eq!(classify(3), Some(ErrorKind::Status4xx));
        assert_eq!(classify(14), Some(ErrorKind::Status5xx));
        assert_eq!(classify(13), Some(ErrorKind::Status5xx));
    }
}
