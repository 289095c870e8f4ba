//! Pushing an image through the OCI distribution API, on reqwest: HEAD each blob before
//! uploading it (a second push uploads nothing, an interrupted one resumes with what is
//! missing), chunked upload (POST, PATCH, PUT ?digest=) with a monolithic fallback, manifests by
//! digest then the tag, the SBOM as a referrer (a manifest whose `subject` is the image).
//! A registry without the Referrers API (its answer to the referrer's PUT has no `OCI-Subject`
//! header) gets the referrers tag schema of distribution-spec 1.1 as well: an index tagged
//! `sha256-<subject hex>` listing the subject's referrers, so `oras discover` finds the SBOM.
//! Blobs another repository of the registry holds are mounted (`?mount=&from=`), not sent.
//! The transport (TLS, auth) is [`distribution`](super::distribution).
use std::collections::BTreeSet;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use reqwest::{header, Method, StatusCode};

use super::distribution::{Client, RegistryError};
use super::oci::{canonical_json, descriptor, BlobStore};
use super::reference::Reference;
use crate::progress::Progress;
use crate::stop::Stop;

/// One chunk of a chunked upload.
const CHUNK: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{cause} ({done} of {total} blobs are in the registry; run the push again to send only the rest)")]
    Incomplete {
        cause: Box<PushError>,
        done: usize,
        total: usize,
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
    /// Blobs mounted from another repository of the same registry (no bytes sent).
    #[serde(default)]
    pub mounted_blobs: usize,
    #[serde(default)]
    pub mounted_bytes: u64,
    /// Digests of the SBOM referrer manifests.
    pub sbom_referrers: Vec<String>,
    /// Referrers fallback tags (`sha256-<hex>`) written because the registry has no Referrers
    /// API; empty when it has one.
    #[serde(default)]
    pub referrers_tags: Vec<String>,
}

/// How an upload session began.
enum Started {
    /// The registry mounted the blob from another repository: nothing to send.
    Mounted,
    /// An upload session at this location.
    Upload(String),
}

/// Pushes into one repository.
#[derive(Debug)]
pub struct Pusher {
    pub client: Client,
    /// Repositories of the same registry that may hold the blobs already (mount sources).
    pub mount_from: Vec<String>,
}

impl Pusher {
    pub fn new(client: Client, mount_from: Vec<String>) -> Pusher {
        let mut mount_from = mount_from;
        mount_from.retain(|r| *r != client.repository);
        mount_from.dedup();
        let mut client = client;
        client.extra_pull_scopes = mount_from.clone();
        Pusher { client, mount_from }
    }

    /// Does the registry have this blob already?
    pub async fn has_blob(&mut self, digest: &str) -> Result<bool, PushError> {
        let c = &mut self.client;
        let url = format!("/v2/{}/blobs/{digest}", c.repository);
        let resp = c.send(Method::HEAD, &url, &[], None).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(c
                .http_error(&format!("HEAD blob {digest}"), resp)
                .await
                .into()),
        }
    }

    /// `POST …/blobs/uploads/`, with `?mount=&from=` to ask for a cross-repository mount.
    async fn start_upload(&mut self, mount: Option<(&str, &str)>) -> Result<Started, PushError> {
        let c = &mut self.client;
        let mut url = format!("/v2/{}/blobs/uploads/", c.repository);
        if let Some((digest, from)) = mount {
            url.push_str(&format!("?mount={digest}&from={from}"));
        }
        let resp = c.send(Method::POST, &url, &[], None).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => return Ok(Started::Mounted),
            StatusCode::ACCEPTED => {}
            _ => return Err(c.http_error("starting an upload", resp).await.into()),
        }
        let loc = location(&resp).ok_or_else(|| RegistryError::Http {
            registry: c.registry.clone(),
            what: "starting an upload".into(),
            status: 202,
            body: "no Location header".into(),
        })?;
        Ok(Started::Upload(loc))
    }

    /// Mount `digest` from the first source repository that has it; `Ok(None)` when mounted,
    /// else the upload session the registry opened instead.
    async fn mount_or_start(&mut self, digest: &str) -> Result<Option<String>, PushError> {
        for from in self.mount_from.clone() {
            match self.start_upload(Some((digest, &from))).await? {
                Started::Mounted => return Ok(None),
                // Not in that repository: the registry opened an ordinary upload. Use it only
                // when no other source is left to try.
                Started::Upload(loc) if Some(&from) == self.mount_from.last() => {
                    return Ok(Some(loc))
                }
                Started::Upload(loc) => {
                    // Close the session this source opened; the next source gets its own.
                    let _ = self.client.send(Method::DELETE, &loc, &[], None).await;
                }
            }
        }
        match self.start_upload(None).await? {
            Started::Upload(loc) => Ok(Some(loc)),
            Started::Mounted => Ok(None),
        }
    }

    /// Send one blob into the session at `loc`: chunked, or monolithic when the registry
    /// refuses a chunk.
    pub async fn upload(
        &mut self,
        loc: String,
        digest: &str,
        data: &[u8],
        progress: &Progress,
        task: &str,
        stop: &Stop,
    ) -> Result<(), PushError> {
        let mut loc = loc;
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
                .client
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
        let resp = if chunked {
            let sep = if loc.contains('?') { '&' } else { '?' };
            self.client
                .send(
                    Method::PUT,
                    &format!("{loc}{sep}digest={digest}"),
                    &[],
                    Some(Vec::new()),
                )
                .await?
        } else {
            // Monolithic: a fresh upload, the whole blob in the closing PUT.
            let Started::Upload(loc) = self.start_upload(None).await? else {
                return Ok(());
            };
            let sep = if loc.contains('?') { '&' } else { '?' };
            let headers = [("Content-Type", "application/octet-stream".to_string())];
            self.client
                .send(
                    Method::PUT,
                    &format!("{loc}{sep}digest={digest}"),
                    &headers,
                    Some(data.to_vec()),
                )
                .await?
        };
        if resp.status() != StatusCode::CREATED {
            return Err(self
                .client
                .http_error(&format!("uploading blob {digest}"), resp)
                .await
                .into());
        }
        progress.position(task.to_string(), data.len() as u64);
        Ok(())
    }

    /// Put one blob unless the registry has it: mounted when a source repository holds it,
    /// else uploaded. Counted in `report`.
    async fn put_blob(
        &mut self,
        digest: &str,
        data: &[u8],
        label: String,
        report: &mut PushReport,
        progress: &Progress,
        stop: &Stop,
    ) -> Result<(), PushError> {
        let task = format!("blob-{digest}");
        if self.has_blob(digest).await? {
            progress.start(task.clone(), label, None);
            progress.finish(task, "exists");
            report.existing_blobs += 1;
            return Ok(());
        }
        progress.start(task.clone(), label, Some(data.len() as u64));
        match self.mount_or_start(digest).await? {
            None => {
                progress.finish(task, "mounted");
                report.mounted_blobs += 1;
                report.mounted_bytes += data.len() as u64;
            }
            Some(loc) => {
                self.upload(loc, digest, data, progress, &task, stop)
                    .await?;
                progress.finish(task, "pushed");
                report.uploaded_blobs += 1;
                report.uploaded_bytes += data.len() as u64;
            }
        }
        Ok(())
    }

    /// PUT a manifest; true when the registry answered with `OCI-Subject`, i.e. it indexes the
    /// manifest's `subject` through its Referrers API.
    pub async fn put_manifest(
        &mut self,
        reference: &str,
        media_type: &str,
        data: &[u8],
    ) -> Result<bool, PushError> {
        let c = &mut self.client;
        let url = format!("/v2/{}/manifests/{reference}", c.repository);
        let headers = [("Content-Type", media_type.to_string())];
        let resp = c
            .send(Method::PUT, &url, &headers, Some(data.to_vec()))
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(c
                .http_error(&format!("PUT manifest {reference}"), resp)
                .await
                .into());
        }
        Ok(resp.headers().contains_key("OCI-Subject"))
    }

    /// Add `referrer` to the referrers fallback index of `subject` (tag `sha256-<hex>`),
    /// creating the index when the tag is absent or holds something else. Returns the tag.
    async fn add_to_referrers_tag(
        &mut self,
        subject: &str,
        referrer: &serde_json::Value,
    ) -> Result<String, PushError> {
        let tag = referrers_tag(subject);
        let c = &mut self.client;
        let url = format!("/v2/{}/manifests/{tag}", c.repository);
        let accept = [("Accept", INDEX.to_string())];
        let resp = c.send(Method::GET, &url, &accept, None).await?;
        let existing = match resp.status() {
            StatusCode::OK => resp.bytes().await.map_err(|e| c.unreachable(&e))?.to_vec(),
            StatusCode::NOT_FOUND => Vec::new(),
            _ => {
                let what = format!("GET referrers tag {tag}");
                return Err(c.http_error(&what, resp).await.into());
            }
        };
        let Some(index) = with_referrer(&existing, referrer) else {
            return Ok(tag);
        };
        let data = canonical_json(&index).map_err(|e| PushError::Image(Box::new(e)))?;
        self.put_manifest(&tag, INDEX, &data).await?;
        Ok(tag)
    }
}

/// Whether running the push again could send the rest: the registry went away or failed,
/// not refused who we are (credentials, trust), which a retry would meet again.
fn resumable(e: &PushError) -> bool {
    matches!(
        e,
        PushError::Registry(RegistryError::Unreachable { .. } | RegistryError::Http { .. })
    )
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The referrers fallback tag of a digest: `sha256:abc…` → `sha256-abc…`.
fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The fallback index `existing` (empty or not an index: a new one) with `referrer` added;
/// `None` when it lists the referrer already.
fn with_referrer(existing: &[u8], referrer: &serde_json::Value) -> Option<serde_json::Value> {
    let mut index: serde_json::Value = serde_json::from_slice(existing)
        .ok()
        .filter(|v: &serde_json::Value| v["mediaType"] == INDEX && v["manifests"].is_array())
        .unwrap_or_else(
            || serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": []}),
        );
    let manifests = index["manifests"].as_array_mut()?;
    if manifests.iter().any(|m| m["digest"] == referrer["digest"]) {
        return None;
    }
    manifests.push(referrer.clone());
    Some(index)
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
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
/// to its platform's manifest as a referrer. Blobs go smallest first, so an interruption
/// leaves as many of them complete in the registry as it can.
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
    let mut ordered = Vec::new();
    for digest in &blobs {
        let data = store
            .get(digest)
            .ok_or_else(|| PushError::MissingBlob(digest.clone()))?;
        ordered.push((digest.as_str(), data));
    }
    ordered.sort_by_key(|(d, data)| (data.len(), *d));
    let mut report = PushReport::default();
    let total = ordered.len();
    for (done, (digest, data)) in ordered.into_iter().enumerate() {
        if stop.is_stopped() {
            return Err(PushError::Interrupted);
        }
        let short = &digest[7..19.min(digest.len())];
        let label = format!("layer {short}");
        if let Err(e) = pusher
            .put_blob(digest, data, label, &mut report, progress, stop)
            .await
        {
            return Err(if done > 0 && resumable(&e) {
                PushError::Incomplete {
                    cause: Box::new(e),
                    done,
                    total,
                }
            } else {
                e
            });
        }
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
        for (d, data, what) in [
            (&empty_digest, &empty, "empty config"),
            (&sbom_digest, sbom, "sbom"),
        ] {
            let label = format!("{what} {}", &d[7..19]);
            pusher
                .put_blob(d, data, label, &mut report, progress, stop)
                .await?;
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
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let indexed = pusher.put_manifest(&digest, media_type, &data).await?;
        if !indexed {
            let referrer = serde_json::json!({
                "mediaType": media_type,
                "digest": digest,
                "size": data.len(),
                "artifactType": "application/spdx+json",
            });
            let tag = pusher
                .add_to_referrers_tag(subject.digest().as_ref(), &referrer)
                .await?;
            report.referrers_tags.push(tag);
        }
        report.sbom_referrers.push(digest);
    }
    let host = reference.registry.clone().unwrap_or_default();
    report.reference = format!("{host}/{}@{}", reference.repository, top.digest());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referrer(digest: &str) -> serde_json::Value {
        serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": 10, "artifactType": "application/spdx+json"})
    }

    #[test]
    fn the_fallback_tag_is_the_digest_with_a_dash() {
        assert_eq!(referrers_tag("sha256:ab12"), "sha256-ab12");
    }

    #[test]
    fn a_missing_or_foreign_tag_becomes_a_new_index_and_a_listed_referrer_is_not_added_twice() {
        let first = with_referrer(b"", &referrer("sha256:aa")).unwrap();
        assert_eq!(first["mediaType"], INDEX);
        assert_eq!(first["manifests"].as_array().unwrap().len(), 1);
        let foreign = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
        let replaced = with_referrer(foreign, &referrer("sha256:aa")).unwrap();
        assert_eq!(replaced, first);
        let bytes = serde_json::to_vec(&first).unwrap();
        assert_eq!(with_referrer(&bytes, &referrer("sha256:aa")), None);
        let second = with_referrer(&bytes, &referrer("sha256:bb")).unwrap();
        let digests: Vec<_> = second["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(digests, ["sha256:aa", "sha256:bb"]);
    }
}
