//! A client of one repository of an OCI distribution registry, on reqwest and rustls: HTTPS
//! first, checked against the system's roots, `/etc/docker/certs.d/<host>/*.crt` (Docker's
//! convention, also `~/.config/docker/certs.d`) and `--registry-cacert`; plain http only when
//! the registry is on loopback or named by `--insecure-registry` and does not speak TLS.
//! Answers one auth challenge (Basic, or Bearer through the token realm); credentials never
//! reach an error, a log line or Debug output.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use reqwest::{header, Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use super::auth::{self, AuthError, Credentials, Keychain};
use super::reference::Reference;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0} has no registry host: use HOST[:PORT]/REPOSITORY[:TAG]")]
    NoRegistry(String),
    #[error("registry {0} does not speak TLS: plain http is used only for loopback registries and those named by --insecure-registry")]
    NeedsTls(String),
    #[error("registry {registry}: {reason}")]
    Untrusted { registry: String, reason: String },
    #[error("{}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("registry {registry} refused the credentials for {repository} (HTTP {status}): check `docker login {registry}`")]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
    },
    #[error("registry {registry}: {what} failed with {}", crate::network::http_answer(*status, body))]
    Http {
        registry: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("registry {registry}: {what} is not what was asked for: {reason}")]
    Corrupt {
        registry: String,
        what: String,
        reason: String,
    },
    #[error("registry {registry} asks for credentials for {repository} and the Docker config has none for {login}: run `docker login {login}`")]
    NoCredentials {
        registry: String,
        repository: String,
        login: String,
    },
    #[error("the token service at {realm} refused the credentials for {registry}/{repository} (HTTP {status}): check `docker login {realm}`")]
    TokenRefused {
        realm: String,
        registry: String,
        repository: String,
        status: u16,
    },
    #[error(transparent)]
    Credentials(#[from] AuthError),
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// How hale reaches registries: resolved once by the command layer.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `HOST[:PORT]`s that may be reached over plain http although not on loopback.
    pub insecure: Vec<String>,
    /// Extra CA certificates (PEM) trusted for every registry.
    pub cacert: Option<PathBuf>,
    /// Folders holding `<host[:port]>/*.crt` CA files (Docker's `certs.d`).
    pub certs_dirs: Vec<PathBuf>,
}

impl RegistryOptions {
    /// Docker's places: `/etc/docker/certs.d` and, as rootless Docker reads it,
    /// `$XDG_CONFIG_HOME/docker/certs.d` (else `~/.config/docker/certs.d`).
    pub fn docker_certs_dirs(home: Option<&str>, xdg_config: Option<&str>) -> Vec<PathBuf> {
        let mut dirs = vec![PathBuf::from("/etc/docker/certs.d")];
        match (xdg_config.filter(|x| !x.is_empty()), home) {
            (Some(x), _) => dirs.push(Path::new(x).join("docker/certs.d")),
            (None, Some(h)) => dirs.push(Path::new(h).join(".config/docker/certs.d")),
            (None, None) => {}
        }
        dirs
    }

    /// The root certificates for `registry`: the system's, its certs.d files, `--registry-cacert`.
    pub fn roots(&self, registry: &str) -> Result<RootCertStore, RegistryError> {
        let mut roots = RootCertStore::empty();
        // Unreadable system entries are skipped, as curl does.
        let (_added, _ignored) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for dir in &self.certs_dirs {
            let Ok(entries) = std::fs::read_dir(dir.join(registry)) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            files.sort();
            for f in files {
                add_pem(&mut roots, &f)?;
            }
        }
        if let Some(f) = &self.cacert {
            add_pem(&mut roots, f)?;
        }
        Ok(roots)
    }

    fn may_use_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.insecure.iter().any(|i| i == registry)
    }
}

/// Check that `path` holds at least one PEM certificate (for validating a flag before work).
pub fn check_ca_file(path: &Path) -> Result<(), RegistryError> {
    add_pem(&mut RootCertStore::empty(), path)
}

fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<(), RegistryError> {
    let bad = |reason: String| RegistryError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    for c in certs {
        roots.add(c).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

pub fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(
        host,
        |(h, p)| if p.parse::<u16>().is_ok() { h } else { host },
    );
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The rustls error somewhere in `e`'s chain. `io::Error::source` skips the error it wraps, so
/// each io::Error is opened with `get_ref`.
fn tls_error(e: &reqwest::Error) -> Option<rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.clone());
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// A client for one repository of one registry.
pub struct Client {
    http: reqwest::Client,
    /// `https://host` or `http://host`, chosen by [`Client::connect`].
    base: String,
    pub registry: String,
    pub repository: String,
    /// Where credentials come from; looked up per host when a challenge asks.
    keychain: Keychain,
    /// Registries that may be reached over plain http (credentials go only to these and
    /// loopback over http).
    insecure: Vec<String>,
    /// Whether the Authorization that worked last carries credentials (not anonymous).
    sent_credentials: bool,
    /// The host whose credentials the last challenge asked for (this registry, or a token
    /// realm's host), named when none were there.
    login: String,
    /// Repositories a Bearer token should also cover (`pull`): mount sources.
    pub extra_pull_scopes: Vec<String>,
    /// The Authorization header that worked last (basic or bearer).
    authorization: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Reach the registry of `reference`: HTTPS when it answers TLS (a certificate it does not
    /// trust is refused, loopback or not), plain http when it does not and may.
    pub async fn connect(
        reference: &Reference,
        opts: &RegistryOptions,
        keychain: Keychain,
    ) -> Result<Client, RegistryError> {
        let registry = reference
            .registry
            .clone()
            .ok_or_else(|| RegistryError::NoRegistry(reference.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(opts.roots(&registry)?)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let unreachable = |reason: String| RegistryError::Unreachable {
            registry: registry.clone(),
            reason,
        };
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::limited(5))
            // The network deadline to connect and for each answer (a response's head, then
            // each read of its body), so a registry that accepts and never answers fails in
            // that time, and a long blob transfer that keeps moving does not.
            .connect_timeout(crate::network::deadline())
            .read_timeout(crate::network::deadline())
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        // The version check every client makes first (`GET /v2/`): any answer is fine here.
        let base = match http.get(format!("https://{registry}/v2/")).send().await {
            Ok(_) => format!("https://{registry}"),
            Err(e) => match tls_error(&e) {
                Some(tls @ rustls::Error::InvalidCertificate(_)) => {
                    let fix = format!("pass --registry-cacert FILE or put its CA in /etc/docker/certs.d/{registry}/ca.crt");
                    return Err(RegistryError::Untrusted {
                        reason: crate::network::tls_sentence(&tls, &fix),
                        registry,
                    });
                }
                // Not TLS (a plain http registry answers garbage or hangs up): http, if it may.
                _ if opts.may_use_http(&registry) => {
                    http.get(format!("http://{registry}/v2/"))
                        .send()
                        .await
                        .map_err(|e| unreachable(crate::discovery::consul::cause_of(&e)))?;
                    format!("http://{registry}")
                }
                Some(_) => return Err(RegistryError::NeedsTls(registry)),
                None => return Err(unreachable(crate::discovery::consul::cause_of(&e))),
            },
        };
        Ok(Client {
            http,
            base,
            repository: reference.repository.clone(),
            login: registry.clone(),
            registry,
            keychain,
            insecure: opts.insecure.clone(),
            sent_credentials: false,
            extra_pull_scopes: Vec::new(),
            authorization: None,
        })
    }

    /// Is this client speaking TLS?
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Send a request, answering one auth challenge (Basic, or Bearer through the token realm).
    pub async fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, RegistryError> {
        for attempt in 0..2 {
            let mut req = self.http.request(method.clone(), self.url(url));
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            if let Some(a) = &self.authorization {
                req = req.header(header::AUTHORIZATION, a);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                if resp.status() == StatusCode::UNAUTHORIZED
                    || resp.status() == StatusCode::FORBIDDEN
                {
                    if !self.sent_credentials {
                        return Err(self.no_credentials(&self.login));
                    }
                    return Err(self.unauthorized(resp.status()));
                }
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            self.authorization = Some(self.answer(&challenge).await?);
        }
        unreachable!("the loop returns on its second attempt")
    }

    pub fn unreachable(&self, e: &reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            reason: crate::discovery::consul::cause_of(e),
        }
    }

    fn unauthorized(&self, status: StatusCode) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            status: status.as_u16(),
        }
    }

    fn no_credentials(&self, login: &str) -> RegistryError {
        RegistryError::NoCredentials {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            login: login.to_string(),
        }
    }

    fn basic(creds: &Credentials) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", creds.username, creds.secret))
        )
    }

    /// The Authorization for a challenge: Basic with this registry's own credentials, or a
    /// token from the Bearer realm. A realm on another host gets basic credentials only when
    /// the Docker config holds some for that host's registry (as the docker CLI and containerd
    /// do); otherwise the token is asked for anonymously. Credentials never travel over plain
    /// http but to loopback or an `--insecure-registry`.
    async fn answer(&mut self, challenge: &str) -> Result<String, RegistryError> {
        let lower = challenge.to_ascii_lowercase();
        if !lower.starts_with("bearer") {
            let creds = self.keychain.lookup(&self.registry).await?;
            let Some(creds) = creds else {
                return Err(self.no_credentials(&self.registry));
            };
            self.sent_credentials = true;
            return Ok(Self::basic(&creds));
        }
        let params = parse_challenge(&challenge[6..]);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.unauthorized(StatusCode::UNAUTHORIZED))?;
        let realm_url = url::Url::parse(&realm).map_err(|_| RegistryError::Http {
            registry: self.registry.clone(),
            what: "its auth challenge".into(),
            status: 401,
            body: format!("the token realm {realm:?} is not a URL"),
        })?;
        let realm_host = match (realm_url.host_str(), realm_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let plain_ok = realm_url.scheme() == "https"
            || is_loopback(&realm_host)
            || self.insecure.iter().any(|h| h == &realm_host);
        if !auth::same_registry(&realm_host, &self.registry) {
            self.login = realm_host.clone();
        }
        let creds = if !plain_ok {
            None
        } else if auth::same_registry(&realm_host, &self.registry) {
            self.keychain.lookup(&self.registry).await?
        } else {
            self.keychain.lookup(&realm_host).await?
        };
        let mut query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k != "realm").collect();
        if !query.iter().any(|(k, _)| k == "scope") {
            query.push((
                "scope".into(),
                format!("repository:{}:pull,push", self.repository),
            ));
        }
        for from in &self.extra_pull_scopes {
            query.push(("scope".into(), format!("repository:{from}:pull")));
        }
        let mut req = self.http.get(realm_url).query(&query);
        if let Some(c) = &creds {
            req = req.header(header::AUTHORIZATION, Self::basic(c));
        }
        self.sent_credentials = creds.is_some();
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        if !resp.status().is_success() {
            if creds.is_none() {
                return Err(self.no_credentials(&realm_host));
            }
            return Err(RegistryError::TokenRefused {
                realm: realm_host,
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                status: resp.status().as_u16(),
            });
        }
        let doc: serde_json::Value = resp.json().await.map_err(|e| self.unreachable(&e))?;
        let token = doc["token"]
            .as_str()
            .or(doc["access_token"].as_str())
            .ok_or_else(|| self.unauthorized(StatusCode::UNAUTHORIZED))?;
        Ok(format!("Bearer {token}"))
    }

    pub async fn http_error(&self, what: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        RegistryError::Http {
            registry: self.registry.clone(),
            what: what.to_string(),
            status,
            body: body.trim().chars().take(300).collect(),
        }
    }

    /// GET a blob or manifest body and check it against `digest` when one is given.
    pub async fn get_verified(
        &mut self,
        path: &str,
        accept: &[&str],
        digest: Option<&str>,
        what: &str,
    ) -> Result<(Vec<u8>, Option<String>), RegistryError> {
        let headers: Vec<(&str, String)> =
            accept.iter().map(|a| ("Accept", a.to_string())).collect();
        let resp = self.send(Method::GET, path, &headers, None).await?;
        if resp.status() != StatusCode::OK {
            return Err(self.http_error(&format!("GET {what}"), resp).await);
        }
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let data = resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_vec();
        if let Some(d) = digest {
            let got = super::layer::sha256(&data);
            if got != d {
                return Err(RegistryError::Corrupt {
                    registry: self.registry.clone(),
                    what: what.to_string(),
                    reason: format!("its digest is {got}, not {d}"),
                });
            }
        }
        Ok((data, media_type))
    }
}

/// `realm="…",service="…",scope="…"` → pairs.
fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((k, v)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let v = v.trim_start();
        let (val, tail) = if let Some(v) = v.strip_prefix('"') {
            match v.split_once('"') {
                Some((val, tail)) => (val.to_string(), tail),
                None => (v.to_string(), ""),
            }
        } else {
            match v.split_once(',') {
                Some((val, tail)) => (val.to_string(), tail),
                None => (v.to_string(), ""),
            }
        };
        out.push((k, val));
        rest = tail.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_named_insecure_registries_may_use_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        let opts = RegistryOptions {
            insecure: vec!["registry.example:5000".into()],
            ..Default::default()
        };
        assert!(opts.may_use_http("registry.example:5000"));
        assert!(!opts.may_use_http("other.example:5000"));
    }

    #[test]
    fn docker_certs_d_folders_follow_docker_and_rootless_docker() {
        assert_eq!(
            RegistryOptions::docker_certs_dirs(Some("/home/u"), None),
            [
                PathBuf::from("/etc/docker/certs.d"),
                PathBuf::from("/home/u/.config/docker/certs.d")
            ]
        );
        assert_eq!(
            RegistryOptions::docker_certs_dirs(Some("/home/u"), Some("/x"))[1],
            PathBuf::from("/x/docker/certs.d")
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.crt");
        std::fs::write(&p, "not a certificate\n").unwrap();
        assert!(matches!(
            check_ca_file(&p),
            Err(RegistryError::CaFile { .. })
        ));
    }

    #[test]
    fn bearer_challenges_parse() {
        let p = parse_challenge(
            r#"realm="http://127.0.0.1:1/token",service="reg",scope="repository:a:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "http://127.0.0.1:1/token".into()));
        assert_eq!(p[2].1, "repository:a:pull");
    }
}
