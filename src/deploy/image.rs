//! Which image `hale deploy` deploys: `--image`, else what `hale build` recorded in
//! `.hale/build.json` (the pushed reference, else the local one by digest), else hale.toml's
//! `[image] repository:tag`.
use std::path::Path;

use serde::Deserialize;

use super::DeployError;
use crate::manifests;
use crate::settings::Settings;

/// What `hale build` records: `.hale/build.json` (read only here; absent until a build).
#[derive(Debug, Deserialize)]
struct BuildRecord {
    reference: Option<String>,
    digest: Option<String>,
    /// `host/repo@sha256:…` when the build was pushed: the only reference a cluster can pull.
    pushed: Option<String>,
}

/// Where the deployed image reference came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrigin {
    /// `--image`.
    Flag,
    /// The reference `hale build --push` pushed.
    Pushed,
    /// The last build, which was not pushed: only a cluster on this machine that shares the
    /// image store (kind, minikube, …) could run it.
    Unpushed,
    /// `[image] repository:tag` from hale.toml (no build recorded).
    Settings,
}

/// The image and its version label: `--image`, else what .hale/build.json records (the pushed
/// `registry/repo@sha256:…`, else the local reference by digest), else `[image]
/// repository:tag` (tag default 0.1.0, the version `hale new` starts at).
pub fn resolve_image(
    dir: &Path,
    name: &str,
    image: Option<&str>,
    settings: &Settings,
) -> Result<(String, Option<String>, ImageOrigin), DeployError> {
    let repository = settings
        .image
        .repository
        .clone()
        .unwrap_or_else(|| name.to_string());
    let tag = settings
        .image
        .tag
        .clone()
        .unwrap_or_else(|| "0.1.0".to_string());
    let label = |t: &str| Some(t.to_string()).filter(|t| manifests::valid_label_value(t));
    if let Some(image) = image {
        let version = image
            .rsplit('/')
            .next()
            .and_then(|last| last.split('@').next())
            .and_then(|last| last.split_once(':').map(|(_, t)| t.to_string()));
        return Ok((
            image.to_string(),
            version.and_then(|v| label(&v)),
            ImageOrigin::Flag,
        ));
    }
    let record_path = dir.join(".hale/build.json");
    let record_error =
        |source: Box<dyn std::error::Error + Send + Sync>| DeployError::BuildRecord {
            path: record_path.display().to_string(),
            source,
        };
    let record = match crate::userfile::read(&record_path, crate::userfile::Limit::RECORD) {
        Ok(bytes) => Some(
            serde_json::from_slice::<BuildRecord>(&bytes).map_err(|e| record_error(e.into()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(record_error(e.into())),
    };
    if let Some(BuildRecord {
        reference,
        digest: Some(digest),
        pushed,
    }) = record
    {
        if !digest.starts_with("sha256:")
            || digest.len() != 71
            || !digest[7..].chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(DeployError::BadInput(format!(
                "{}: digest {digest:?} is not sha256:<64 hex digits>; run `hale build` again",
                record_path.display()
            )));
        }
        let (repo, version) = match reference.as_deref() {
            Some(r) => {
                let no_digest = r.split('@').next().unwrap_or(r);
                let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
                match no_digest[last_slash..].rfind(':') {
                    Some(i) => (
                        no_digest[..last_slash + i].to_string(),
                        Some(no_digest[last_slash + i + 1..].to_string()),
                    ),
                    None => (no_digest.to_string(), None),
                }
            }
            None => (repository, Some(tag)),
        };
        if let Some(pushed) = pushed {
            let (pushed_repo, pushed_digest) = pushed.split_once('@').unwrap_or((&pushed, ""));
            if pushed_repo.is_empty() || !pushed_digest.starts_with("sha256:") {
                return Err(DeployError::BadInput(format!(
                    "{}: pushed reference {pushed:?} is not registry/repository@sha256:…; run \
                     `hale build --push` again",
                    record_path.display()
                )));
            }
            return Ok((pushed, version.and_then(|v| label(&v)), ImageOrigin::Pushed));
        }
        return Ok((
            format!("{repo}@{digest}"),
            version.and_then(|v| label(&v)),
            ImageOrigin::Unpushed,
        ));
    }
    Ok((
        format!("{repository}:{tag}"),
        label(&tag),
        ImageOrigin::Settings,
    ))
}
