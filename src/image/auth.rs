//! Registry credentials from the Docker config (`config.json` in DOCKER_CONFIG or ~/.docker), as
//! the docker CLI keeps them: `credHelpers[host]`, then `credsStore` (both through
//! `docker-credential-<name> get`, run as a child process with a deadline, never blocking the
//! runtime), then `auths[key].auth` (base64 `user:password`), where a key matches by its host
//! (`https://host:5000/v1/` and `host:5000` are the same entry). Docker Hub's hosts, its token
//! service included, are all stored under the v1 index address [`DOCKER_HUB_KEY`].
//! Credentials belong to one registry: [`Keychain::lookup`] answers for that registry only.
//! Never printed: [`Credentials`]' Debug hides them.
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::AsyncWriteExt as _;

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

/// The key `docker login` (no argument) stores Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Hosts that are Docker Hub: the names images use, its registry API and its token service.
const DOCKER_HUB_HOSTS: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "auth.docker.io",
];

/// How long a credential helper may take to answer.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(20);

/// The host of a config key: `https://host:5000/v1/` → `host:5000`, as the docker CLI matches.
fn key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS.contains(&host.to_ascii_lowercase().as_str())
}

/// Which registry a host's credentials are stored for: Docker Hub's hosts all map to
/// [`DOCKER_HUB_KEY`]; any other host is its own registry.
pub fn config_key(host: &str) -> String {
    if is_docker_hub(host) {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// Whether two hosts (`host[:port]`) are the same registry as far as credentials go.
pub fn same_registry(a: &str, b: &str) -> bool {
    config_key(a).eq_ignore_ascii_case(&config_key(b))
}

/// The Docker config's credentials, looked up per registry.
#[derive(Debug, Clone)]
pub struct Keychain {
    /// The Docker config folder (`config.json`); None: no credentials at all.
    dir: Option<PathBuf>,
    helper_timeout: Duration,
}

impl Keychain {
    /// The credentials of the Docker config folder `dir`.
    pub fn new(dir: PathBuf) -> Keychain {
        Keychain {
            dir: Some(dir),
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    /// No credentials (anonymous access only).
    pub fn none() -> Keychain {
        Keychain {
            dir: None,
            helper_timeout: HELPER_TIMEOUT,
        }
    }

    pub fn with_helper_timeout(mut self, timeout: Duration) -> Keychain {
        self.helper_timeout = timeout;
        self
    }

    /// The credentials stored for the registry `host` (`host[:port]`), if any.
    pub async fn lookup(&self, host: &str) -> Result<Option<Credentials>, AuthError> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join("config.json");
        let Ok(text) = tokio::fs::read(&path).await else {
            return Ok(None);
        };
        let bad = |reason: String| AuthError::BadConfig {
            path: path.display().to_string(),
            reason,
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let key = config_key(host);
        let matches = |k: &str| same_registry(key_host(k), host);
        let helper = doc["credHelpers"]
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| matches(k)))
            .and_then(|(_, v)| v.as_str())
            .or(doc["credsStore"].as_str());
        if let Some(helper) = helper {
            if let Some(c) = helper_get(helper, &key, self.helper_timeout).await? {
                return Ok(Some(c));
            }
        }
        let auths = doc["auths"].as_object();
        let entry = auths.and_then(|m| {
            // The exact key first (Docker Hub's v1 address), then any key of the same host.
            m.get(&key).map(|v| (key.as_str(), v)).or_else(|| {
                m.iter()
                    .find(|(k, _)| matches(k))
                    .map(|(k, v)| (k.as_str(), v))
            })
        });
        let Some((k, auth)) = entry.and_then(|(k, v)| v["auth"].as_str().map(|a| (k, a))) else {
            return Ok(None);
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad(format!("auths.{k}.auth is not base64")))?;
        let raw =
            String::from_utf8(raw).map_err(|_| bad(format!("auths.{k}.auth is not UTF-8")))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| bad(format!("auths.{k}.auth is not user:password")))?;
        Ok(Some(Credentials {
            username: u.to_string(),
            secret: p.to_string(),
        }))
    }
}

/// `docker-credential-<helper> get` for `server`.
async fn helper_get(
    helper: &str,
    server: &str,
    timeout: Duration,
) -> Result<Option<Credentials>, AuthError> {
    if !helper
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(AuthError::Helper {
            helper: helper.to_string(),
            host: server.to_string(),
            reason: "not a plain helper name".into(),
        });
    }
    helper_get_at(&format!("docker-credential-{helper}"), server, timeout).await
}

/// Run `program get` with the server address on stdin, killed if it does not answer within
/// `timeout`.
async fn helper_get_at(
    program: &str,
    server: &str,
    timeout: Duration,
) -> Result<Option<Credentials>, AuthError> {
    let helper = program
        .rsplit('/')
        .next()
        .unwrap_or(program)
        .trim_start_matches("docker-credential-");
    let err = |reason: String| AuthError::Helper {
        helper: helper.to_string(),
        host: server.to_string(),
        reason,
    };
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    let mut stdin = child.stdin.take();
    let work = async {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(server.as_bytes()).await;
        }
        drop(stdin.take());
        child.wait_with_output().await
    };
    let out = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| err(format!("no answer within {}s", timeout.as_secs())))?
        .map_err(|e| err(e.to_string()))?;
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

    fn config(json: &str) -> (tempfile::TempDir, Keychain) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let keychain = Keychain::new(dir.path().to_path_buf());
        (dir, keychain)
    }

    #[tokio::test]
    async fn reads_auths_for_that_registry_only_and_hides_the_secret_in_debug() {
        let (_dir, keys) = config(r#"{"auths":{"127.0.0.1:5001":{"auth":"dTpzM2NyZXQ="}}}"#);
        let c = keys.lookup("127.0.0.1:5001").await.unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("u", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(keys.lookup("127.0.0.1:5002").await.unwrap().is_none());
        assert!(keys.lookup("127.0.0.1").await.unwrap().is_none());
        assert!(Keychain::none()
            .lookup("127.0.0.1:5001")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_key_with_a_scheme_and_path_matches_its_host() {
        let (_dir, keys) =
            config(r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpzM2NyZXQ="}}}"#);
        assert!(keys.lookup("reg.example:5000").await.unwrap().is_some());
        assert!(keys.lookup("reg.example").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn docker_hubs_v1_key_serves_its_registry_and_token_hosts() {
        let (_dir, keys) =
            config(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1Yi1wYXNz"}}}"#);
        for host in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "auth.docker.io",
        ] {
            let c = keys.lookup(host).await.unwrap().unwrap();
            assert_eq!(
                (c.username.as_str(), c.secret.as_str()),
                ("hub", "hub-pass"),
                "{host}"
            );
        }
        assert!(keys.lookup("ghcr.example").await.unwrap().is_none());
        assert_eq!(config_key("registry-1.docker.io"), DOCKER_HUB_KEY);
        assert!(same_registry("auth.docker.io", "registry-1.docker.io"));
        assert!(!same_registry("127.0.0.1:5000", "127.0.0.1:5001"));
    }

    /// A `docker-credential-<name>` script in `bin`, on a PATH of its own.
    fn helper(bin: &std::path::Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn helpers_get_the_server_address_and_a_slow_one_is_cut_off() {
        let bin = tempfile::tempdir().unwrap();
        // Echoes the server it was asked about as the user name.
        helper(
            bin.path(),
            "echo",
            r#"read s; printf '{"Username":"%s","Secret":"x"}' "$s""#,
        );
        helper(bin.path(), "slow", "exec sleep 30");
        let with_path = |name: &str| format!("{}/docker-credential-{name}", bin.path().display());
        // Run the helpers by path: PATH is the test process's, shared with other tests.
        let c = helper_get_at(&with_path("echo"), DOCKER_HUB_KEY, HELPER_TIMEOUT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.username, DOCKER_HUB_KEY);
        let started = std::time::Instant::now();
        let e = helper_get_at(
            &with_path("slow"),
            "slow.example",
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("no answer within"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // A helper name that is not a plain name is never run.
        assert!(helper_get("../x", "h", HELPER_TIMEOUT).await.is_err());
    }
}
