//! Registry credentials from the Docker config (`config.json` in DOCKER_CONFIG or ~/.docker):
//! `credHelpers[host]`, then `credsStore` (both through `docker-credential-<name> get`), then
//! `auths[host].auth` (base64 `user:password`). Never printed: [`Credentials`]' Debug hides them.
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;

/// A user name and a password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<hidden>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: not valid Docker config JSON: {reason}")]
    BadConfig { path: String, reason: String },
    #[error("docker-credential-{helper} get failed for {host}: {reason}")]
    Helper {
        helper: String,
        host: String,
        reason: String,
    },
}

/// The credentials for `host` from the Docker config folder `dir`, if any.
pub fn lookup(dir: &Path, host: &str) -> Result<Option<Credentials>, AuthError> {
    let path = dir.join("config.json");
    let Ok(text) = std::fs::read(&path) else {
        return Ok(None);
    };
    let bad = |reason: String| AuthError::BadConfig {
        path: path.display().to_string(),
        reason,
    };
    let doc: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let keys = [
        host.to_string(),
        format!("http://{host}"),
        format!("https://{host}"),
    ];
    if let Some(helper) = keys
        .iter()
        .find_map(|k| doc["credHelpers"][k.as_str()].as_str())
        .or(doc["credsStore"].as_str())
    {
        if let Some(c) = helper_get(helper, host)? {
            return Ok(Some(c));
        }
    }
    for k in &keys {
        if let Some(auth) = doc["auths"][k.as_str()]["auth"].as_str() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad(format!("auths.{k}.auth is not base64")))?;
            let raw =
                String::from_utf8(raw).map_err(|_| bad(format!("auths.{k}.auth is not UTF-8")))?;
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| bad(format!("auths.{k}.auth is not user:password")))?;
            return Ok(Some(Credentials {
                username: u.to_string(),
                secret: p.to_string(),
            }));
        }
    }
    Ok(None)
}

fn helper_get(helper: &str, host: &str) -> Result<Option<Credentials>, AuthError> {
    let err = |reason: String| AuthError::Helper {
        helper: helper.to_string(),
        host: host.to_string(),
        reason,
    };
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(err("not a plain helper name".into()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        // "credentials not found in native keychain" means: no entry for this host.
        return Ok(None);
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|_| err("its answer is not JSON".into()))?;
    match (doc["Username"].as_str(), doc["Secret"].as_str()) {
        (Some(u), Some(s)) => Ok(Some(Credentials {
            username: u.to_string(),
            secret: s.to_string(),
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_and_hides_the_secret_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"127.0.0.1:5001":{"auth":"dTpzM2NyZXQ="}}}"#,
        )
        .unwrap();
        let c = lookup(dir.path(), "127.0.0.1:5001").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("u", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(lookup(dir.path(), "127.0.0.1:5002").unwrap().is_none());
    }
}
