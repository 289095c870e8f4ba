//! Image references (`[host[:port]/]path[:tag][@sha256:…]`), checked before they reach a tag,
//! a manifest or a registry URL, with the grammar of the distribution spec.
use std::fmt;
use std::str::FromStr;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, when the first component names one (has a `.` or `:`, or is localhost).
    pub registry: Option<String>,
    /// The repository path, e.g. `acme/orders`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {given:?}: {reason}")]
pub struct ReferenceError {
    pub given: String,
    pub reason: &'static str,
}

fn component_ok(c: &str) -> bool {
    // [a-z0-9]+ joined by `.`, `_`, `__` or `-`+
    !c.is_empty()
        && c.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        && !c.contains("..")
        && !c.contains("___")
}

/// Is `t` a valid tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`?
pub fn tag_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ReferenceError {
            given: s.to_string(),
            reason,
        };
        if s.is_empty() || s.len() > 255 {
            return Err(err("empty or longer than 255 characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| err("the digest must be sha256:<64 hex>"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(err("the digest must be sha256:<64 hex>"));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, p))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), p)
            }
            _ => (None, rest),
        };
        if let Some(r) = &registry {
            let (host, port) = r
                .split_once(':')
                .map_or((r.as_str(), None), |(h, p)| (h, Some(p)));
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                || port.is_some_and(|p| p.parse::<u16>().is_err())
            {
                return Err(err("the registry must be host[:port]"));
            }
        }
        // The tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => {
                if !tag_ok(t) {
                    return Err(err(
                        "a tag is letters, digits, `_`, `.` and `-`, at most 128",
                    ));
                }
                (r, Some(t.to_string()))
            }
            _ => (path, None),
        };
        if !repository.split('/').all(component_ok) {
            return Err(err(
                "repository path components are lowercase letters and digits, joined by `.`, `_` or `-`",
            ));
        }
        Ok(Reference {
            registry,
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_repository_tag_and_digest() {
        let r: Reference = "127.0.0.1:5000/acme/orders:1.2.3".parse().unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "acme/orders");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        let d = format!("orders@sha256:{}", "a".repeat(64));
        assert_eq!(d.parse::<Reference>().unwrap().to_string(), d);
        assert_eq!("orders".parse::<Reference>().unwrap().registry, None);
    }

    #[test]
    fn refuses_uppercase_bad_tags_and_bad_digests() {
        for bad in [
            "Orders",
            "orders:",
            "orders:-x",
            "orders@sha256:12",
            "a//b",
            "host:99999/x",
            "",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
