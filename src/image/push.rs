//! Pushing an image through the OCI distribution API, on reqwest: HEAD each blob before
//! uploading it (a second push uploads nothing, an interrupted one resumes with what is
//! missing), chunked upload (POST, PATCH, PUT ?digest=) with a monolithic fallback, manifests by
//! digest then the tag, the SBOM as a referrer (a manifest whose `subject` is the image).
//! Credentials come from the Docker config ([`auth`](super::auth)) and never reach output.
use std::collections::BTreeSet;

use base64::Engine as _;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use reqwest::{header, Method, StatusCode};

use super::auth::Credentials;
use super::oci::{canonical_json, descriptor, BlobStore};
use super::reference::Reference;
use crate::progress::Progress;
use crate::stop::Stop;

/// One chunk of a chunked upload.
const CHUNK: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0} has no registry host: push to HOST[:PORT]/REPOSITORY[:TAG]")]
    NoRegistry(String),
    #[error("registry {0} is not on loopback: plain http is used only for 127.0.0.1, localhost and --insecure-registry, and this build of hale has no TLS client")]
    NeedsTls(String),
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("registry {registry} refused the credentials for {repository} (HTTP {status}): check `docker login {registry}`")]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
    },
    #[error("registry {registry}: {what} failed with HTTP {status}: {body}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("blob {0} is missing from the image being pushed")]
    MissingBlob(String),
    #[error(transparent)]
    Image(#[from] Box<super::ImageError>),
    #[error("interrupted")]
    Interrupted,
}

/// What a push did.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct PushReport {
    /// `host/repo@sha256:…`
    pub reference: String,
    pub uploaded_blobs: usize,
    pub uploaded_bytes: u64,
    pub existing_blobs: usize,
    /// Digests of the SBOM referrer manifests.
    pub sbom_referrers: Vec<String>,
}

/// A client for one repository of one registry.
pub struct Pusher {
    client: reqwest::Client,
    base: String,
    registry: String,
    repository: String,
    creds: Option<Credentials>,
    /// The Authorization header that worked last (basic or bearer).
    authorization: Option<String>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Pusher")
            .field("base", &self.base)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(
        host,
        |(h, p)| if p.parse::<u16>().is_ok() { h } else { host },
    );
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Pusher {
    pub fn new(
        reference: &Reference,
        insecure: &[String],
        creds: Option<Credentials>,
    ) -> Result<Pusher, PushError> {
        let registry = reference
            .registry
            .clone()
            .ok_or_else(|| PushError::NoRegistry(reference.to_string()))?;
        if !is_loopback(&registry) && !insecure.contains(&registry) {
            return Err(PushError::NeedsTls(registry));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| PushError::Unreachable {
                registry: registry.clone(),
                reason: e.to_string(),
            })?;
        Ok(Pusher {
            client,
            base: format!("http://{registry}"),
            registry,
            repository: reference.repository.clone(),
            creds,
            authorization: None,
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Send a request, answering one auth challenge (Basic, or Bearer through the token realm).
    async fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, PushError> {
        for attempt in 0..2 {
            let mut req = self.client.request(method.clone(), self.url(url));
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

    fn unreachable(&self, e: &reqwest::Error) -> PushError {
        PushError::Unreachable {
            registry: self.registry.clone(),
            reason: crate::discovery::consul::cause_of(e),
        }
    }

    fn unauthorized(&self, status: StatusCode) -> PushError {
        PushError::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            status: status.as_u16(),
        }
    }

    async fn answer(&self, challenge: &str) -> Result<String, PushError> {
        let Some(creds) = &self.creds else {
            return Err(self.unauthorized(StatusCode::UNAUTHORIZED));
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", creds.username, creds.secret))
        );
        let lower = challenge.to_ascii_lowercase();
        if !lower.starts_with("bearer") {
            return Ok(basic);
        }
        let params = parse_challenge(&challenge[6..]);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.unauthorized(StatusCode::UNAUTHORIZED))?;
        let mut query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k != "realm").collect();
        if !query.iter().any(|(k, _)| k == "scope") {
            query.push((
                "scope".into(),
                format!("repository:{}:pull,push", self.repository),
            ));
        }
        let resp = self
            .client
            .get(&realm)
            .query(&query)
            .header(header::AUTHORIZATION, basic)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !resp.status().is_success() {
            return Err(self.unauthorized(resp.status()));
        }
        let doc: serde_json::Value = resp.json().await.map_err(|e| self.unreachable(&e))?;
        let token = doc["token"]
            .as_str()
            .or(doc["access_token"].as_str())
            .ok_or_else(|| self.unauthorized(StatusCode::UNAUTHORIZED))?;
        Ok(format!("Bearer {token}"))
    }

    async fn http_error(&self, what: &str, resp: reqwest::Response) -> PushError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        PushError::Http {
            registry: self.registry.clone(),
            what: what.to_string(),
            status,
            body: body.trim().chars().take(300).collect(),
        }
    }

    /// Does the registry have this blob already?
    pub async fn has_blob(&mut self, digest: &str) -> Result<bool, PushError> {
        let url = format!("/v2/{}/blobs/{digest}", self.repository);
        let resp = self.send(Method::HEAD, &url, &[], None).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.http_error(&format!("HEAD blob {digest}"), resp).await),
        }
    }

    async fn start_upload(&mut self) -> Result<String, PushError> {
        let url = format!("/v2/{}/blobs/uploads/", self.repository);
        let resp = self.send(Method::POST, &url, &[], None).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.http_error("starting an upload", resp).await);
        }
        location(&resp).ok_or(PushError::Http {
            registry: self.registry.clone(),
            what: "starting an upload".into(),
            status: 202,
            body: "no Location header".into(),
        })
    }

    /// Upload one blob: chunked, or monolithic when the registry refuses a chunk.
    pub async fn upload(
        &mut self,
        digest: &str,
        data: &[u8],
        progress: &Progress,
        task: &str,
        stop: &Stop,
    ) -> Result<(), PushError> {
        let mut loc = self.start_upload().await?;
        let mut offset = 0usize;
        let mut chunked = true;
        while offset < data.len() {
            if stop.is_stopped() {
                return Err(PushError::Interrupted);
            }
            let end = (offset + CHUNK).min(data.len());
            let headers = [
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Range", format!("{offset}-{}", end - 1)),
            ];
            let resp = self
                .send(
                    Method::PATCH,
                    &loc,
                    &headers,
                    Some(data[offset..end].to_vec()),
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                chunked = false;
                break;
            }
            loc = location(&resp).unwrap_or(loc);
            offset = end;
            progress.position(task.to_string(), offset as u64);
        }
        let sep = if loc.contains('?') { '&' } else { '?' };
        let resp = if chunked {
            self.send(
                Method::PUT,
                &format!("{loc}{sep}digest={digest}"),
                &[],
                Some(Vec::new()),
            )
            .await?
        } else {
            // Monolithic: a fresh upload, the whole blob in the closing PUT.
            let loc = self.start_upload().await?;
            let sep = if loc.contains('?') { '&' } else { '?' };
            let headers = [("Content-Type", "application/octet-stream".to_string())];
            self.send(
                Method::PUT,
                &format!("{loc}{sep}digest={digest}"),
                &headers,
                Some(data.to_vec()),
            )
            .await?
        };
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .http_error(&format!("uploading blob {digest}"), resp)
                .await);
        }
        progress.position(task.to_string(), data.len() as u64);
        Ok(())
    }

    pub async fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        data: &[u8],
    ) -> Result<(), PushError> {
        let url = format!("/v2/{}/manifests/{reference}", self.repository);
        let headers = [("Content-Type", media_type.to_string())];
        let resp = self
            .send(Method::PUT, &url, &headers, Some(data.to_vec()))
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .http_error(&format!("PUT manifest {reference}"), resp)
                .await);
        }
        Ok(())
    }
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
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

/// The blobs and manifests of `top`, leaves first.
fn walk(
    store: &BlobStore,
    top: &Descriptor,
) -> Result<(BTreeSet<String>, Vec<Descriptor>), PushError> {
    let get = |d: &str| {
        store
            .get(d)
            .ok_or_else(|| PushError::MissingBlob(d.to_string()))
    };
    let mut blobs = BTreeSet::new();
    let mut manifests = Vec::new();
    let visit = |m: &Descriptor, blobs: &mut BTreeSet<String>| -> Result<(), PushError> {
        let man: ImageManifest = serde_json::from_slice(get(m.digest().as_ref())?)
            .map_err(|e| Box::new(super::ImageError::Json(e)))?;
        blobs.insert(man.config().digest().to_string());
        blobs.extend(man.layers().iter().map(|l| l.digest().to_string()));
        Ok(())
    };
    if *top.media_type() == MediaType::ImageIndex {
        let index: ImageIndex = serde_json::from_slice(get(top.digest().as_ref())?)
            .map_err(|e| Box::new(super::ImageError::Json(e)))?;
        for m in index.manifests() {
            visit(m, &mut blobs)?;
            manifests.push(m.clone());
        }
    } else {
        visit(top, &mut blobs)?;
    }
    manifests.push(top.clone());
    Ok((blobs, manifests))
}

/// Push `top` and everything it points at; tag it with `reference`'s tag; attach each SBOM
/// to its platform's manifest as a referrer.
#[allow(clippy::too_many_arguments)]
pub async fn push(
    pusher: &mut Pusher,
    reference: &Reference,
    store: &BlobStore,
    top: &Descriptor,
    sboms: &[(Descriptor, Vec<u8>)],
    progress: &Progress,
    stop: &Stop,
) -> Result<PushReport, PushError> {
    let (blobs, manifests) = walk(store, top)?;
    let mut report = PushReport::default();
    for digest in &blobs {
        if stop.is_stopped() {
            return Err(PushError::Interrupted);
        }
        let data = store
            .get(digest)
            .ok_or_else(|| PushError::MissingBlob(digest.clone()))?;
        let short = &digest[7..19.min(digest.len())];
        let task = format!("blob-{digest}");
        if pusher.has_blob(digest).await? {
            progress.start(task.clone(), format!("layer {short}"), None);
            progress.finish(task, "exists");
            report.existing_blobs += 1;
            continue;
        }
        progress.start(
            task.clone(),
            format!("layer {short}"),
            Some(data.len() as u64),
        );
        pusher.upload(digest, data, progress, &task, stop).await?;
        progress.finish(task, "pushed");
        report.uploaded_blobs += 1;
        report.uploaded_bytes += data.len() as u64;
    }
    for m in &manifests {
        let data = store
            .get(m.digest().as_ref())
            .ok_or_else(|| PushError::MissingBlob(m.digest().to_string()))?;
        pusher
            .put_manifest(
                m.digest().as_ref(),
                m.media_type().to_string().as_str(),
                data,
            )
            .await?;
    }
    if let Some(tag) = &reference.tag {
        let data = store
            .get(top.digest().as_ref())
            .ok_or_else(|| PushError::MissingBlob(top.digest().to_string()))?;
        pusher
            .put_manifest(tag, top.media_type().to_string().as_str(), data)
            .await?;
    }
    // SBOM referrers: an artifact manifest, empty config, the SPDX document as its one layer.
    let empty = b"{}".to_vec();
    let empty_digest = super::layer::sha256(&empty);
    for (subject, sbom) in sboms {
        let sbom_digest = super::layer::sha256(sbom);
        for (d, data) in [(&empty_digest, &empty), (&sbom_digest, sbom)] {
            if !pusher.has_blob(d).await? {
                pusher
                    .upload(d, data, progress, &format!("blob-{d}"), stop)
                    .await?;
                report.uploaded_blobs += 1;
                report.uploaded_bytes += data.len() as u64;
            } else {
                report.existing_blobs += 1;
            }
        }
        let wrap = |e| PushError::Image(Box::new(e));
        let mut layer = descriptor(
            MediaType::Other("application/spdx+json".into()),
            &sbom_digest,
            sbom.len() as u64,
        )
        .map_err(wrap)?;
        layer.set_annotations(Some(std::collections::HashMap::from([(
            "org.opencontainers.image.title".to_string(),
            "sbom.spdx.json".to_string(),
        )])));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/spdx+json",
            "config": descriptor(MediaType::EmptyJSON, &empty_digest, 2).map_err(wrap)?,
            "layers": [layer],
            "subject": subject,
        });
        let data = canonical_json(&manifest).map_err(wrap)?;
        let digest = super::layer::sha256(&data);
        pusher
            .put_manifest(&digest, "application/vnd.oci.image.manifest.v1+json", &data)
            .await?;
        report.sbom_referrers.push(digest);
    }
    let host = reference.registry.clone().unwrap_or_default();
    report.reference = format!("{host}/{}@{}", reference.repository, top.digest());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_only_get_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        let r: Reference = "registry.example:5000/a/b:1".parse().unwrap();
        assert!(matches!(
            Pusher::new(&r, &[], None),
            Err(PushError::NeedsTls(_))
        ));
        assert!(Pusher::new(&r, &["registry.example:5000".into()], None).is_ok());
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
