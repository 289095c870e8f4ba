//! The load loop's HTTP/1.1 client: one keep-alive connection, one request at a time.
//!
//! A load generator sends the same request millions of times and needs three facts from each
//! response: its status, who served it (X-Instance-ID) and where it ends. So the request is
//! serialised once per instance ([`RequestTemplate`]) and written with one `write`; the
//! response head is parsed in place with httparse and the body is skipped by its framing
//! (Content-Length, chunked, or until close) without being copied out. Nothing is allocated per
//! request. A general client (hyper) builds a `HeaderMap`, a `Response` and body frames for
//! each exchange and talks to its connection through a channel; on this machine that was a
//! fifth of the generator's own time.
//!
//! A connection that was reused and fails before any byte of the response arrived (the server
//! closed it while idle) is reported as [`Failure::Stale`]: the caller may resend an idempotent
//! request on a new connection, as Go's and hyper's pools do.
//!
//! An HTTPS connection is the same exchange over tokio-rustls; its handshake time is kept on
//! the connection for the report.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use rustls::pki_types::ServerName;

use super::tls::TlsClient;

/// The first read buffer; it grows (up to [`MAX_HEAD`]) only for a larger response head.
const BUFFER: usize = 16 * 1024;
/// The largest response head accepted.
const MAX_HEAD: usize = 1024 * 1024;
/// Headers parsed per response; a response with more is a transport error.
const MAX_HEADERS: usize = 64;

/// A request serialised once: request line, headers, blank line, body.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Everything up to the end of the last header line (no blank line yet).
    head: Vec<u8>,
    body: Bytes,
    /// `head` + blank line + `body`, for a request with no per-request header.
    whole: Vec<u8>,
    /// A HEAD request's response has no body whatever its headers say.
    pub is_head: bool,
    /// Safe to resend on a new connection when a reused one turned out to be closed.
    pub idempotent: bool,
}

impl RequestTemplate {
    /// `target` is the origin-form path and query; `authority` becomes Host unless `headers`
    /// sets one. Content-Length is hale's (from `body`); Transfer-Encoding and Connection
    /// from `headers` are left out, since the exchange depends on its own framing.
    pub fn new(
        method: &Method,
        target: &str,
        authority: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Self {
        use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
        let mut head = Vec::with_capacity(128);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        if !headers.iter().any(|(n, _)| n == HOST) {
            push_header(&mut head, b"host", authority.as_bytes());
        }
        for (name, value) in headers {
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
                continue;
            }
            push_header(&mut head, name.as_str().as_bytes(), value.as_bytes());
        }
        let payload_method = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        if !body.is_empty() || payload_method {
            push_header(
                &mut head,
                b"content-length",
                body.len().to_string().as_bytes(),
            );
        }
        let mut whole = Vec::with_capacity(head.len() + 2 + body.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(b"\r\n");
        whole.extend_from_slice(&body);
        RequestTemplate {
            is_head: *method == Method::HEAD,
            idempotent: method.is_idempotent(),
            head,
            body,
            whole,
        }
    }

    /// The request as it goes on the wire, with `extra` (a per-request header) added into
    /// `scratch` when there is one.
    pub fn bytes<'a>(
        &'a self,
        extra: Option<(&HeaderName, &HeaderValue)>,
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        let Some((name, value)) = extra else {
            return &self.whole;
        };
        scratch.clear();
        scratch.extend_from_slice(&self.head);
        push_header(scratch, name.as_str().as_bytes(), value.as_bytes());
        scratch.extend_from_slice(b"\r\n");
        scratch.extend_from_slice(&self.body);
        scratch
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// What one exchange learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub status: u16,
    /// The response carried an X-Instance-ID other than the expected one.
    pub id_mismatch: bool,
    /// The connection can carry the next request.
    pub keep_alive: bool,
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A reused connection failed before any byte of the response: the server had closed it.
    Stale,
    /// Reset, closed mid-response, or not HTTP/1.x.
    Transport,
}

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Plain TCP or TLS over it.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                // rustls holds records until flushed.
                s.flush().await
            }
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    /// Resolves when the socket under it is readable (data, or the peer's EOF).
    #[cfg(test)]
    async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.readable().await,
            Stream::Tls(s) => s.get_ref().0.readable().await,
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// No TCP connection (refused, unreachable).
    Connect(io::Error),
    /// TCP connected, the TLS handshake failed (untrusted certificate, no common protocol).
    Tls(io::Error),
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// At least one exchange completed on it.
    reused: bool,
    /// HTTPS: how long the TLS handshake took (after the TCP connect).
    pub handshake: Option<Duration>,
}

impl Connection {
    /// Connect to `addr`; with `tls`, make the handshake presenting that server name.
    pub async fn open(
        addr: SocketAddr,
        tls: Option<(&TlsClient, &ServerName<'static>)>,
    ) -> Result<Connection, OpenError> {
        let tcp = TcpStream::connect(addr).await.map_err(OpenError::Connect)?;
        tcp.set_nodelay(true).map_err(OpenError::Connect)?;
        let (stream, handshake) = match tls {
            None => (Stream::Plain(tcp), None),
            Some((client, name)) => {
                let started = Instant::now();
                let stream = client
                    .connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(OpenError::Tls)?;
                (Stream::Tls(Box::new(stream)), Some(started.elapsed()))
            }
        };
        Ok(Connection {
            stream,
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            reused: false,
            handshake,
        })
    }

    /// Send `request` and read the whole response. `expect_id`: the X-Instance-ID the
    /// response should carry, if it is checked.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        is_head: bool,
        expect_id: Option<&[u8]>,
    ) -> Result<Exchange, Failure> {
        self.start = 0;
        self.end = 0;
        let early = if self.reused {
            Failure::Stale
        } else {
            Failure::Transport
        };
        self.stream.write_all(request).await.map_err(|_| early)?;
        let mut received = false;
        let (status, framing, mut keep_alive, id_mismatch) = loop {
            if self.end > self.start {
                match parse_head(&self.buf[self.start..self.end], is_head, expect_id)? {
                    Some((head_len, head)) => {
                        self.start += head_len;
                        // 1xx interim responses (100 Continue, 103 Early Hints) precede the
                        // real one; 101 would switch protocols, which a load test never asks.
                        if (100..200).contains(&head.0) {
                            if head.0 == 101 {
                                return Err(Failure::Transport);
                            }
                            continue;
                        }
                        break head;
                    }
                    None if self.end - self.start >= MAX_HEAD => return Err(Failure::Transport),
                    None => {}
                }
            }
            let n = self
                .fill()
                .await
                .map_err(|_| if received { Failure::Transport } else { early })?;
            if n == 0 {
                return Err(if received { Failure::Transport } else { early });
            }
            received = true;
        };
        match framing {
            Framing::Length(len) => self.skip_length(len).await?,
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => {
                while self.fill().await.map_err(|_| Failure::Transport)? > 0 {
                    self.start = self.end;
                }
                keep_alive = false;
            }
        }
        // Bytes after the response were never asked for: the connection's state is unknown.
        keep_alive &= self.start == self.end;
        self.reused = true;
        Ok(Exchange {
            status,
            id_mismatch,
            keep_alive,
        })
    }

    /// Read more into the buffer; 0 at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(MAX_HEAD);
            if grown == self.buf.len() {
                return Err(io::Error::other("response head too large"));
            }
            self.buf.resize(grown, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn skip_length(&mut self, len: u64) -> Result<(), Failure> {
        let mut remaining = len;
        loop {
            let available = (self.end - self.start) as u64;
            let take = available.min(remaining);
            self.start += take as usize;
            remaining -= take;
            if remaining == 0 {
                return Ok(());
            }
            if self.fill().await.map_err(|_| Failure::Transport)? == 0 {
                return Err(Failure::Transport);
            }
        }
    }

    async fn skip_chunked(&mut self) -> Result<(), Failure> {
        let mut decoder = ChunkedSkipper::default();
        loop {
            let consumed = decoder
                .feed(&self.buf[self.start..self.end])
                .map_err(|()| Failure::Transport)?;
            self.start += consumed;
            if decoder.is_done() {
                return Ok(());
            }
            if self.fill().await.map_err(|_| Failure::Transport)? == 0 {
                return Err(Failure::Transport);
            }
        }
    }
}

/// (status, framing, keep-alive, X-Instance-ID mismatch)
type Head = (u16, Framing, bool, bool);

/// Parse a response head at the start of `bytes`: `None` while incomplete.
fn parse_head(
    bytes: &[u8],
    is_head: bool,
    expect_id: Option<&[u8]>,
) -> Result<Option<(usize, Head)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Failure::Transport),
    };
    let status = response.code.ok_or(Failure::Transport)?;
    let http11 = response.version == Some(1);
    let mut keep_alive = http11;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut id_mismatch = false;
    for h in response.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = parse_length(h.value).ok_or(Failure::Transport)?;
            if length.is_some_and(|l| l != value) {
                return Err(Failure::Transport);
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding decides; chunked must be last when present.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"x-instance-id") {
            id_mismatch = expect_id.is_some_and(|id| h.value != id);
        }
    }
    let framing = if is_head || status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(len)) => Framing::Length(len),
            (None, None) => Framing::UntilClose,
        }
    };
    Ok(Some((len, (status, framing, keep_alive, id_mismatch))))
}

fn parse_length(value: &[u8]) -> Option<u64> {
    let value = trim(value);
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// Where a chunked body is, byte by byte, so a read may end anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

/// Skips a chunked body (RFC 9112 §7.1) without keeping it.
#[derive(Debug, Clone)]
struct ChunkedSkipper {
    state: Chunk,
}

impl Default for ChunkedSkipper {
    fn default() -> Self {
        ChunkedSkipper {
            state: Chunk::Size {
                value: 0,
                digits: 0,
            },
        }
    }
}

impl ChunkedSkipper {
    fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Consume what `bytes` holds of the body; returns how many bytes were part of it (all of
    /// them, unless the body ended inside).
    fn feed(&mut self, bytes: &[u8]) -> Result<usize, ()> {
        let mut i = 0;
        while i < bytes.len() && self.state != Chunk::Done {
            if let Chunk::Data(left) = self.state {
                let take = left.min((bytes.len() - i) as u64);
                i += take as usize;
                self.state = if take == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data(left - take)
                };
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.state = match (self.state, b) {
                (Chunk::Size { value, digits }, _) if b.is_ascii_hexdigit() => {
                    let digit = (b as char).to_digit(16).ok_or(())? as u64;
                    if digits >= 15 {
                        return Err(());
                    }
                    Chunk::Size {
                        value: value * 16 + digit,
                        digits: digits + 1,
                    }
                }
                (Chunk::Size { value, digits }, b';' | b' ' | b'\t') if digits > 0 => {
                    Chunk::Extension { value }
                }
                (Chunk::Size { value, digits }, b'\r') if digits > 0 => Chunk::SizeLf { value },
                (Chunk::Extension { value }, b'\r') => Chunk::SizeLf { value },
                (Chunk::Extension { value }, b) if b != b'\n' => Chunk::Extension { value },
                (Chunk::SizeLf { value: 0 }, b'\n') => Chunk::TrailerStart,
                (Chunk::SizeLf { value }, b'\n') => Chunk::Data(value),
                (Chunk::DataCr, b'\r') => Chunk::DataLf,
                (Chunk::DataLf, b'\n') => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                (Chunk::TrailerStart, b'\r') => Chunk::EndLf,
                (Chunk::TrailerStart | Chunk::Trailer, b) if b != b'\r' && b != b'\n' => {
                    Chunk::Trailer
                }
                (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
                (Chunk::TrailerLf, b'\n') => Chunk::TrailerStart,
                (Chunk::EndLf, b'\n') => Chunk::Done,
                _ => return Err(()),
            };
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn skip_all(body: &[u8], step: usize) -> Result<usize, ()> {
        let mut s = ChunkedSkipper::default();
        let mut used = 0;
        for piece in body.chunks(step) {
            used += s.feed(piece)?;
            if s.is_done() {
                return Ok(used);
            }
        }
        Err(())
    }

    #[test]
    fn chunked_bodies_end_exactly_whatever_the_read_boundaries() {
        let body = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let end = body.len() - 4;
        for step in 1..body.len() {
            assert_eq!(skip_all(body, step), Ok(end), "read size {step}");
        }
        assert_eq!(skip_all(b"0\r\n\r\n", 64), Ok(5));
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        for bad in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"ffffffffffffffff0\r\n",
        ] {
            assert_eq!(
                skip_all(bad, 64),
                Err(()),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn request_template_has_host_length_and_the_extra_header() {
        let headers = vec![
            (
                HeaderName::from_static("x-a"),
                HeaderValue::from_static("1"),
            ),
            (
                HeaderName::from_static("content-length"),
                HeaderValue::from_static("999"),
            ),
        ];
        let t = RequestTemplate::new(
            &Method::POST,
            "/v1/orders?x=1",
            "127.0.0.1:8080",
            &headers,
            Bytes::from_static(b"{}"),
        );
        let mut scratch = Vec::new();
        assert_eq!(
            t.bytes(None, &mut scratch),
            b"POST /v1/orders?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n{}"
        );
        let name = HeaderName::from_static("x-user");
        let value = HeaderValue::from_static("key-3");
        assert_eq!(
            t.bytes(Some((&name, &value)), &mut scratch),
            b"POST /v1/orders?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-a: 1\r\ncontent-length: 2\r\nx-user: key-3\r\n\r\n{}"
        );
        let get = RequestTemplate::new(&Method::GET, "/", "h", &[], Bytes::new());
        assert_eq!(
            get.bytes(None, &mut scratch),
            b"GET / HTTP/1.1\r\nhost: h\r\n\r\n"
        );
        assert!(get.idempotent && !get.is_head && !t.idempotent);
    }

    #[test]
    fn heads_give_status_framing_keep_alive_and_identity() {
        let parse = |text: &str, is_head: bool| {
            parse_head(text.as_bytes(), is_head, Some(b"orders-1")).map(|h| h.map(|(_, h)| h))
        };
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Instance-ID: orders-1\r\n\r\n",
                false
            ),
            Ok(Some((200, Framing::Length(2), true, false)))
        );
        assert_eq!(
            parse("HTTP/1.1 503 x\r\nTransfer-Encoding: gzip, chunked\r\nX-Instance-Id: orders-2\r\nConnection: close\r\n\r\n", false),
            Ok(Some((503, Framing::Chunked, false, true)))
        );
        assert_eq!(
            parse("HTTP/1.0 200 OK\r\n\r\n", false),
            Ok(Some((200, Framing::UntilClose, false, false)))
        );
        assert_eq!(
            parse(
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                false
            ),
            Ok(Some((200, Framing::Length(0), true, false)))
        );
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true),
            Ok(Some((200, Framing::Length(0), true, false)))
        );
        assert_eq!(parse("HTTP/1.1 200 OK\r\nContent-Le", false), Ok(None));
        assert_eq!(
            parse(
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            ),
            Err(Failure::Transport)
        );
        assert_eq!(
            parse("SSH-2.0-OpenSSH\r\n\r\n", false),
            Err(Failure::Transport)
        );
    }

    /// A server that answers each request it reads with the next canned response, then closes
    /// when `close_after` requests were answered.
    async fn server(responses: Vec<&'static [u8]>, close_after: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            for (i, r) in responses.iter().enumerate() {
                if i == close_after {
                    return;
                }
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                // Dribble the response a few bytes at a time to cross every boundary.
                for piece in r.chunks(7) {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn exchanges_follow_each_framing_on_one_connection() {
        let addr = server(
            vec![
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Instance-ID: a\r\n\r\nhello",
                b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                b"HTTP/1.1 204 No Content\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
            ],
            usize::MAX,
        )
        .await;
        let mut c = Connection::open(addr, None).await.unwrap();
        let req = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        let expect = |status, keep_alive| Exchange {
            status,
            id_mismatch: false,
            keep_alive,
        };
        assert_eq!(
            c.exchange(req, false, Some(b"a")).await,
            Ok(expect(200, true))
        );
        assert_eq!(
            c.exchange(req, false, Some(b"a")).await,
            Ok(expect(500, true))
        );
        assert_eq!(c.exchange(req, false, None).await, Ok(expect(204, true)));
        assert_eq!(c.exchange(req, false, None).await, Ok(expect(200, false)));
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_stale_and_a_cut_body_is_transport() {
        let addr = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"; 2], 1).await;
        let mut c = Connection::open(addr, None).await.unwrap();
        let req = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        assert!(c.exchange(req, false, None).await.is_ok());
        // Wait for the server's close (EOF makes the socket readable), not for a fixed time.
        c.stream.readable().await.unwrap();
        assert_eq!(c.exchange(req, false, None).await, Err(Failure::Stale));

        let addr = server(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
            2,
        )
        .await;
        let mut c = Connection::open(addr, None).await.unwrap();
        assert_eq!(c.exchange(req, false, None).await, Err(Failure::Transport));
    }
}
