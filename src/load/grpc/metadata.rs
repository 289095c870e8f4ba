//! `-H` under `--grpc`: custom metadata as the gRPC over HTTP/2 protocol allows it, checked
//! before anything is sent.
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};

/// Headers the protocol or HTTP/2 itself sets: a user's value would clash with hale's.
const RESERVED: [&str; 10] = [
    "content-type",
    "te",
    "host",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Check one `-H NAME: VALUE` as gRPC metadata (the error is the whole line to print).
///
/// Keys are `0-9 a-z _ - .` (HTTP/2 sends them in lower case, so an upper-case letter given is
/// lowered, as grpc-go's metadata does); pseudo-headers cannot be parsed as a name at all.
/// `grpc-*` keys are the protocol's own. A key ending in `-bin` carries binary data: its value
/// is given base64-encoded, as it goes on the wire, and must decode; any other value is
/// printable ASCII.
pub fn check(name: &HeaderName, value: &HeaderValue) -> Result<(), String> {
    let key = name.as_str();
    if let Some(c) = key
        .chars()
        .find(|c| !matches!(c, '0'..='9' | 'a'..='z' | '_' | '-' | '.'))
    {
        return Err(format!(
            "-H {key:?}: {c:?} is not allowed in a gRPC metadata key (only 0-9 a-z _ - .)"
        ));
    }
    if key.starts_with("grpc-") {
        return Err(format!(
            "-H {key:?}: grpc-* metadata keys are reserved for the gRPC protocol"
        ));
    }
    if RESERVED.contains(&key) {
        return Err(format!(
            "-H {key:?}: set by hale for every gRPC call; not allowed as metadata"
        ));
    }
    if key.ends_with("-bin") {
        let text = value.as_bytes();
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD.decode(
            text.strip_suffix(b"==")
                .or(text.strip_suffix(b"="))
                .unwrap_or(text),
        );
        if decoded.is_err() {
            return Err(format!(
                "-H {key:?}: a -bin key's value is binary data given base64-encoded; \
                 {:?} is not base64",
                String::from_utf8_lossy(text)
            ));
        }
    } else if let Some(b) = value
        .as_bytes()
        .iter()
        .find(|b| !(0x20..=0x7e).contains(*b))
    {
        return Err(format!(
            "-H {key:?}: byte 0x{b:02x} is not printable ASCII; send binary values under a \
             key ending in -bin, base64-encoded"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(name: &str, value: &str) -> Result<(), String> {
        check(
            &HeaderName::from_bytes(name.as_bytes()).unwrap(),
            &HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn metadata_keys_values_and_bin_suffix_follow_the_grpc_rules() {
        assert_eq!(checked("x-tenant", "acme"), Ok(()));
        assert_eq!(checked("X-Tenant.v1_a", "acme"), Ok(()));
        assert_eq!(checked("trace-bin", "AAEC/w=="), Ok(()));
        assert_eq!(checked("trace-bin", "AAEC/w"), Ok(()));
        assert!(checked("trace-bin", "not base64!").is_err());
        assert!(checked("x!y", "a").unwrap_err().contains("'!'"));
        assert!(checked("grpc-timeout", "1S")
            .unwrap_err()
            .contains("reserved"));
        assert!(checked("content-type", "text/plain").is_err());
        assert!(checked("x-a", "caf\u{e9}").unwrap_err().contains("-bin"));
    }
}
