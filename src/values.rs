//! Values checked by their type before anything runs: the clap value parsers of every flag that
//! takes a duration, a count, an address, a registry URL or an image reference, and the same
//! checks for the values hale.toml and `HALE_*` give (settings.rs calls them).
//!
//! Each parser returns the plain type the command already uses (`Duration`, `u32`, `String`),
//! so the args structs change only in their `value_parser` line. A refusal is one line that
//! says what is wrong and what to write instead; clap prints it as `invalid value '…' for
//! '--flag <VALUE>': <why>` and `lib::main_entry` turns that into exit 2.
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A duration above zero (`500ms`, `10s`, `2m`): every timeout, window and deadline.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let d = crate::settings::parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!(
            "{text:?} is zero; give a duration above zero such as 500ms, 10s or 2m"
        ));
    }
    Ok(d)
}

/// A count of at least 1 (probes, keys, calls, replicas).
pub fn positive_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("0 is not allowed: give a whole number of at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{text:?} is not a whole number: give one of at least 1 (at most {})",
            u32::MAX
        )),
    }
}

/// `host:port` as every network address hale takes: a DNS name or IPv4 address, or an IPv6
/// address in brackets (`[::1]:8080`), and a port from 1 to 65535.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Without brackets.
    pub host: String,
    pub port: u16,
}

const HOST_PORT_FORMS: &str =
    "expected HOST:PORT such as 127.0.0.1:8080, orders.local:8080 or [::1]:8080";

impl HostPort {
    /// Parse `host:port`; the error says what is wrong with it, in one line.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let bad = |why: &str| {
            Err(format!(
                "{text:?} is not an address: {why}; {HOST_PORT_FORMS}"
            ))
        };
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "{text:?} has a scheme ({scheme}://): drop the scheme and give HOST:PORT, such as {}",
                text.split_once("://").map_or("", |(_, rest)| rest).trim_end_matches('/')
            ));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((v6, port)) = rest.split_once("]:") else {
                return bad("an IPv6 address needs a closing ] and a port, as in [::1]:8080");
            };
            if v6.parse::<Ipv6Addr>().is_err() {
                return bad(&format!("{v6:?} is not an IPv6 address"));
            }
            (v6, port)
        } else {
            let Some((host, port)) = text.rsplit_once(':') else {
                return bad("no port");
            };
            if host.contains(':') {
                return bad("write an IPv6 address in brackets, as in [::1]:8080");
            }
            if let Err(why) = host_name_ok(host) {
                return bad(&why);
            }
            (host, port)
        };
        let port = match port.parse::<u16>() {
            Ok(0) => return bad("port 0 is not a port: use 1 to 65535"),
            Ok(p) => p,
            Err(_) => return bad(&format!("port {port:?} is not a number from 1 to 65535")),
        };
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A host name (RFC 1123 labels, `_` allowed as container names use it) or an IPv4 address.
fn host_name_ok(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "the host {host:?} has {c:?}; a host name is letters, digits, '-' and '.'"
        ));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > 253
        || name
            .split('.')
            .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
    {
        return Err(format!(
            "the host {host:?} is not a host name (labels of 1 to 63 characters, not starting or ending with '-')"
        ));
    }
    Ok(())
}

/// `--address`, `--scrape-target`: a checked `host:port`, as given.
pub fn host_port(text: &str) -> Result<String, String> {
    HostPort::parse(text).map(|_| text.to_string())
}

/// `--endpoints`: `host:port`; a URL is refused with "drop the scheme" (and `--scheme https`
/// for TLS), never resolved as a host called `http`.
pub fn endpoint(text: &str) -> Result<String, String> {
    let text = text.trim();
    if let Some((scheme, rest)) = text.split_once("://") {
        let tls = if scheme.eq_ignore_ascii_case("https") {
            " and add --scheme https"
        } else {
            ""
        };
        return Err(format!(
            "{text:?} has a scheme: drop the scheme{tls} and give HOST:PORT, such as {}",
            rest.trim_end_matches('/')
        ));
    }
    host_port(text)
}

/// `--registry`, `HALE_REGISTRY`, hale.toml `registry`: a URL [`crate::discovery::RegistryUrl`]
/// parses, as given.
pub fn registry_url(text: &str) -> Result<String, String> {
    crate::discovery::RegistryUrl::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// `--insecure-registry`: `host[:port]` of an image registry, without scheme or path.
pub fn registry_host(text: &str) -> Result<String, String> {
    if text.contains("://") {
        return Err(format!(
            "{text:?} has a scheme: give the registry as HOST[:PORT], such as 127.0.0.1:5000"
        ));
    }
    if text.contains('/') {
        return Err(format!(
            "{text:?} has a path: give the registry as HOST[:PORT], such as 127.0.0.1:5000"
        ));
    }
    if text.starts_with('[') || text.contains(':') {
        return host_port(text);
    }
    host_name_ok(text)
        .map(|_| text.to_string())
        .map_err(|why| format!("{text:?} is not a registry host: {why}"))
}

/// `--image` (`hale up --runtime docker`, `hale deploy`): an image reference by the
/// distribution grammar.
pub fn image_reference(text: &str) -> Result<String, String> {
    text.parse::<crate::image::reference::Reference>()
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// An output file (`--archive`): not a folder, and its folder exists (hale does not create
/// folders on the way to a file it was asked to write).
pub fn output_file(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if text.is_empty() {
        return Err("the path is empty".into());
    }
    if path.is_dir() || text.ends_with('/') {
        return Err(format!("{text} is a folder: give a file path"));
    }
    parent_is_folder(text, &path)?;
    Ok(path)
}

/// An output folder (`--oci-layout`): absent (created), or a folder; its parent exists.
pub fn output_dir(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if text.is_empty() {
        return Err("the path is empty".into());
    }
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => return Ok(path),
        Ok(_) => {
            return Err(format!(
                "{text} exists and is not a folder: give a folder path"
            ))
        }
        Err(_) => {}
    }
    parent_is_folder(text, &path)?;
    Ok(path)
}

fn parent_is_folder(text: &str, path: &Path) -> Result<(), String> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{text}: {} is a file, not a folder",
            parent.display()
        )),
        Err(_) => Err(format!(
            "{text}: the folder {} does not exist (create it first)",
            parent.display()
        )),
    }
}

/// The format number a state file declares (`{"version": N, ...}`), read before the rest so a
/// file from a newer hale is refused by its number, not by whatever field it added.
pub fn declared_format(json: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Declared {
        version: Option<u64>,
    }
    serde_json::from_slice::<Declared>(json).ok()?.version
}

/// Why a state file from a newer hale is refused (never rewritten in an older format).
pub fn newer_format(path: &Path, what: &str, found: u64, reads: u64) -> String {
    format!(
        "{} is a {what} of format {found}, written by a newer hale (this one reads format \
         {reads}): upgrade hale first; hale does not rewrite it",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_durations_and_counts_are_refused() {
        assert!(positive_duration("0s").unwrap_err().contains("zero"));
        assert!(positive_duration("0ms").is_err());
        assert!(positive_duration("-1s").is_err());
        assert_eq!(positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(positive_count("0").unwrap_err().contains("at least 1"));
        assert!(positive_count("-3").is_err());
        assert_eq!(positive_count("3"), Ok(3));
    }

    #[test]
    fn addresses_are_host_port_or_refused_in_one_line() {
        for good in [
            "127.0.0.1:8080",
            "orders.local:1",
            "[::1]:80",
            "my_svc:443",
            "a.b.:9",
        ] {
            assert!(HostPort::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "[::1",
            "[::1]",
            "[:]:1",
            "a b:80",
            "::1:80",
            "host",
            "host:0",
            "host:99999",
            ":80",
            "-a:80",
            "a..b:80",
            "host:http",
            "[zz]:80",
        ] {
            let e = HostPort::parse(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
        assert_eq!(HostPort::parse("[::1]:80").unwrap().to_string(), "[::1]:80");
    }

    #[test]
    fn endpoints_with_a_scheme_say_drop_the_scheme() {
        let e = endpoint("http://127.0.0.1:80").unwrap_err();
        assert!(
            e.contains("drop the scheme") && e.contains("127.0.0.1:80"),
            "{e}"
        );
        assert!(endpoint("https://a:443/")
            .unwrap_err()
            .contains("--scheme https"));
        assert!(endpoint("127.0.0.1:80").is_ok());
    }

    #[test]
    fn registry_urls_and_hosts() {
        assert!(registry_url("consul://[::1").is_err());
        assert!(registry_url("consul://[::1]:8500").is_ok());
        assert!(registry_url("etcd://a b:2379").is_err());
        assert!(registry_host("127.0.0.1:5000").is_ok());
        assert!(registry_host("registry.local").is_ok());
        assert!(registry_host("http://x/y").unwrap_err().contains("scheme"));
        assert!(registry_host("x/y").unwrap_err().contains("path"));
        assert!(registry_host("x:y").is_err());
    }

    #[test]
    fn output_paths_are_checked_before_work() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert!(output_file(&d).unwrap_err().contains("folder"));
        assert!(output_file(&format!("{d}/missing/x.tar"))
            .unwrap_err()
            .contains("does not exist"));
        assert!(output_file(&format!("{d}/x.tar")).is_ok());
        std::fs::write(dir.path().join("f"), "").unwrap();
        assert!(output_file(&format!("{d}/f/x.tar"))
            .unwrap_err()
            .contains("is a file"));
        assert!(output_dir(&format!("{d}/f"))
            .unwrap_err()
            .contains("not a folder"));
        assert!(output_dir(&format!("{d}/new")).is_ok());
    }
}
