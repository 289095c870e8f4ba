//! Whether a finished run failed as a whole: nothing answered, or the target went away and
//! never came back. The command turns the one-line cause into exit 1.
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::report::Report;

/// A stretch of failures this long at the end of a run, with nothing succeeding, means the
/// target went away for good rather than hiccuped.
const GONE_FOR_GOOD_MS: f64 = 1000.0;

/// One line naming why the run failed, or `None` if something answered to the end.
/// An interrupted run is not judged: it ends with its own exit code.
pub fn failure(report: &Report) -> Option<String> {
    if report.interrupted || report.requests == 0 {
        return None;
    }
    let addresses = addresses(report);
    if report.ok == 0 {
        let cause = cause(report);
        return Some(match cause.kind {
            Kind::NoAnswer => format!("nothing answered at {addresses}: {}", cause.text),
            Kind::BadAnswer => format!("no request succeeded at {addresses}: {}", cause.text),
        });
    }
    // Went away for good: the trailing ticks that carried requests all failed, for long
    // enough. The tick that is still running when the run ends counts too: it carries the
    // last requests.
    let mut trailing_ms = 0.0;
    let mut since = None;
    for point in report.series.iter().rev() {
        if point.requests == 0 {
            continue;
        }
        if point.errors < point.requests {
            break;
        }
        trailing_ms = report.duration_s * 1000.0 - point.t_ms;
        since = Some(point.t_ms);
    }
    let since = since?;
    if trailing_ms < GONE_FOR_GOOD_MS {
        return None;
    }
    let cause = cause(report);
    let verb = match cause.kind {
        Kind::NoAnswer => "stopped answering",
        Kind::BadAnswer => "stopped succeeding",
    };
    Some(format!(
        "{addresses} {verb} at {:.1}s and did not come back: {}",
        since / 1000.0,
        cause.text
    ))
}

enum Kind {
    /// No HTTP response at all.
    NoAnswer,
    /// Responses came, all of them failures.
    BadAnswer,
}

struct Cause {
    kind: Kind,
    text: String,
}

/// The instances that were there at the end (or all of them, if none was).
fn addresses(report: &Report) -> String {
    let present: Vec<&str> = report
        .instances
        .iter()
        .filter(|i| i.present_at_end)
        .map(|i| i.address.as_str())
        .collect();
    let list = if present.is_empty() {
        report
            .instances
            .iter()
            .map(|i| i.address.as_str())
            .collect()
    } else {
        present
    };
    if list.is_empty() {
        "the target".to_string()
    } else if list.len() > 3 {
        format!("{} and {} more", list[..3].join(", "), list.len() - 3)
    } else {
        list.join(", ")
    }
}

/// The most frequent failure that reached (or tried to reach) an instance; local breaker
/// rejections only follow from those.
fn cause(report: &Report) -> Cause {
    let count = |k: &str| report.errors_by_kind.get(k).copied().unwrap_or(0);
    let top = ["connect", "tls", "timeout", "transport", "5xx", "4xx"]
        .into_iter()
        .max_by_key(|k| count(k))
        .filter(|k| count(k) > 0);
    match top {
        Some("connect") => Cause {
            kind: Kind::NoAnswer,
            text: connect_reason(report),
        },
        Some("tls") => Cause {
            kind: Kind::NoAnswer,
            text: "the TLS handshake failed (an untrusted certificate? pass --cacert FILE, or --insecure for a test server)".to_string(),
        },
        Some("timeout") => Cause {
            kind: Kind::NoAnswer,
            text: format!("{} requests timed out without a response", count("timeout")),
        },
        Some("transport") => Cause {
            kind: Kind::NoAnswer,
            text: "connections broke before a complete HTTP response".to_string(),
        },
        Some("5xx") => Cause {
            kind: Kind::BadAnswer,
            text: format!("{} responses were 5xx server errors", count("5xx")),
        },
        Some(_) => Cause {
            kind: Kind::BadAnswer,
            text: format!(
                "{} responses were 4xx (check --path, --method and the headers)",
                count("4xx")
            ),
        },
        None if count("no-instance") > 0 => Cause {
            kind: Kind::NoAnswer,
            text: "discovery had no instance to send to".to_string(),
        },
        None => Cause {
            kind: Kind::NoAnswer,
            text: "every request was refused by the breakers".to_string(),
        },
    }
}

/// Why connecting failed, asked of the OS once more now the run is over (one connect per
/// instance, loopback in practice): "connection refused" reads better than an error kind.
fn connect_reason(report: &Report) -> String {
    for address in report.instances.iter().filter(|i| i.present_at_end) {
        let Ok(addr) = address.address.parse::<SocketAddr>() else {
            continue;
        };
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return "connection refused".to_string()
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return "connecting timed out".to_string()
            }
            Err(e) => return format!("connecting failed: {e}"),
        }
    }
    "could not connect".to_string()
}
