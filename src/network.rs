//! What hale says about the network: the one deadline, and one sentence for why a call failed.
//!
//! The deadline is how long hale waits for a peer that does not answer — to connect,
//! and then for each answer (a response's head, the next bytes of its body). A registry,
//! Consul or etcd, the Kubernetes API server or a Docker Engine that accepts a connection and
//! never answers fails the operation after this long, with the same words everywhere.
//!
//! Set once from `--network-timeout` / `HALE_NETWORK_TIMEOUT` (default [`DEFAULT`]) by
//! `lib::main_entry` before any command runs; domain modules read it with [`deadline`]. Waits
//! that are long by design add it to their own length (a Consul blocking query waits its
//! `wait` plus the deadline); work that is not waiting for an answer (a build, a rollout's
//! `--timeout`, `hale load`'s per-request `--timeout`) has its own flag. docs/exit-codes.md
//! lists them per command.
use std::sync::OnceLock;
use std::time::Duration;

/// The deadline when none is given.
pub const DEFAULT: Duration = Duration::from_secs(30);

static NETWORK: OnceLock<Duration> = OnceLock::new();

/// Set the deadline for this process (first call wins; later calls are ignored).
pub fn set_deadline(deadline: Duration) {
    let _ = NETWORK.set(deadline);
}

/// The network deadline of this process.
pub fn deadline() -> Duration {
    NETWORK.get().copied().unwrap_or(DEFAULT)
}

/// `no answer within 30s (--network-timeout)`: the cause every timed-out network call names.
pub fn no_answer() -> String {
    format!(
        "no answer within {} (raise --network-timeout or HALE_NETWORK_TIMEOUT if the peer is slow)",
        humantime::format_duration(deadline())
    )
}

/// Why a network call failed, as one sentence with its fix: a timeout is [`no_answer`], a
/// certificate hale does not accept says which way and what to do, anything else is the
/// innermost cause (hyper and reqwest hide `Connection refused` levels down). Never a Debug
/// dump of a library's error.
pub fn cause(err: &(dyn std::error::Error + 'static)) -> String {
    cause_with(err, "give the command that CA")
}

/// [`cause`], with `ca_fix` saying how this command is given a CA (for an unknown issuer).
pub fn cause_with(err: &(dyn std::error::Error + 'static), ca_fix: &str) -> String {
    let mut innermost = err.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_sentence(tls, ca_fix);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return no_answer();
            }
        }
        if e.is::<tokio::time::error::Elapsed>() {
            return no_answer();
        }
        let text = e.to_string();
        if text == "deadline has elapsed" || text == "operation timed out" || text == "timed out" {
            return no_answer();
        }
        if !text.is_empty() {
            innermost = text;
        }
        // `io::Error::source` skips the error it wraps, so an io::Error is opened with
        // `get_ref` (that is where rustls' error sits under hyper's and tokio-rustls').
        cur = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static))
                .or_else(|| e.source()),
            None => e.source(),
        };
    }
    innermost
}

/// A TLS failure in words: what the peer's certificate is wrong about, and what to do.
/// `ca_fix` says how this command is given a CA (`pass --registry-cacert FILE`).
pub fn tls_sentence(err: &rustls::Error, ca_fix: &str) -> String {
    use rustls::{CertificateError, Error};
    match err {
        Error::InvalidCertificate(why) => {
            let what = match why {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate is not valid for the host name hale connected to: \
                     use a name the certificate was issued for (or add this one to it)"
                }
                CertificateError::UnknownIssuer => {
                    return format!(
                        "TLS: the server's certificate is signed by a CA hale does not trust: {ca_fix}"
                    );
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired: renew it on the server"
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet: check the clocks of both machines"
                }
                CertificateError::Revoked => "the server's certificate has been revoked: replace it",
                CertificateError::BadEncoding => "the server's certificate cannot be decoded",
                _ => "the server's certificate was refused: check the server's certificate and the CA hale is given",
            };
            format!("TLS: {what}")
        }
        Error::NoCertificatesPresented => "TLS: the server sent no certificate".to_string(),
        Error::AlertReceived(alert) => format!(
            "TLS: the server refused the connection ({alert:?}): check the client certificate \
             and that the server speaks TLS on this port"
        ),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "TLS: the server does not speak TLS on this port (plain http?)".to_string()
        }
        other => format!("TLS: {other}"),
    }
}

/// An HTTP answer that is not a success, in words: `HTTP 404 Not Found: <the body's first
/// line, at most 200 characters>`, or `HTTP 404 Not Found (with an empty body)` — never a
/// colon with nothing after it.
pub fn http_answer(status: u16, body: &str) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.is_empty() {
        return format!("HTTP {status}{reason} (with an empty body)");
    }
    let mut shown: String = body.chars().take(200).collect();
    if shown.len() < body.len() {
        shown.push('…');
    }
    format!("HTTP {status}{reason}: {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_sentences_not_debug_dumps() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        let s = cause(&std::io::Error::other(e));
        assert!(s.contains("not valid for the host name"), "{s}");
        assert!(!s.contains('{'), "{s}");
    }

    #[test]
    fn an_empty_http_answer_says_so() {
        assert_eq!(
            http_answer(404, ""),
            "HTTP 404 Not Found (with an empty body)"
        );
        assert_eq!(
            http_answer(500, "boom\n"),
            "HTTP 500 Internal Server Error: boom"
        );
    }

    #[test]
    fn timeouts_name_the_deadline_and_the_flag() {
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "x");
        assert!(cause(&e).contains("--network-timeout"));
    }
}
