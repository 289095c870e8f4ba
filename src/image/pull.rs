//! A base image read from a registry (`--base HOST/REPO[:TAG|@DIGEST]`): the manifest, or the
//! entry of an index that matches the platform, its config and its layers, each checked
//! against its digest and copied into the build's blob store.
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use super::distribution::{Client, RegistryError};
use super::layout::BaseImage;
use super::oci::{BlobStore, LayerRef};
use super::platform::Platform;
use super::reference::Reference;

/// What a manifest request accepts: OCI and Docker v2, images and indexes.
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("it has no image for {0}")]
    NoPlatform(String),
    #[error("{0}")]
    Invalid(String),
}

fn is_index(media_type: Option<&str>, doc: &serde_json::Value) -> bool {
    let t = doc["mediaType"].as_str().or(media_type).unwrap_or_default();
    t.contains("index") || t.contains("manifest.list") || doc["manifests"].is_array()
}

fn json<T: serde::de::DeserializeOwned>(data: &[u8], what: &str) -> Result<T, PullError> {
    serde_json::from_slice(data).map_err(|e| PullError::Invalid(format!("{what}: {e}")))
}

/// The image of `reference` for `platform`, its layers copied into `store`; also the digest
/// of the platform's manifest.
pub async fn read_base(
    client: &mut Client,
    reference: &Reference,
    platform: &Platform,
    store: &mut BlobStore,
) -> Result<(BaseImage, String), PullError> {
    let repo = reference.repository.clone();
    let wanted = reference
        .digest
        .clone()
        .or(reference.tag.clone())
        .unwrap_or_else(|| "latest".to_string());
    let (mut data, mut media_type) = client
        .get_verified(
            &format!("/v2/{repo}/manifests/{wanted}"),
            &MANIFEST_TYPES,
            reference.digest.as_deref(),
            &format!("manifest {wanted}"),
        )
        .await?;
    let doc: serde_json::Value = json(&data, "manifest")?;
    if is_index(media_type.as_deref(), &doc) {
        let index: ImageIndex = json(&data, "index")?;
        let entry = index
            .manifests()
            .iter()
            .find(|m| {
                m.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == platform.os
                        && p.architecture().to_string() == platform.arch
                        && (platform.variant.is_none() || *p.variant() == platform.variant)
                })
            })
            .ok_or_else(|| PullError::NoPlatform(platform.to_string()))?;
        let d = entry.digest().to_string();
        (data, media_type) = client
            .get_verified(
                &format!("/v2/{repo}/manifests/{d}"),
                &MANIFEST_TYPES,
                Some(&d),
                &format!("manifest {d}"),
            )
            .await?;
    }
    let _ = media_type;
    let manifest_digest = super::layer::sha256(&data);
    let manifest: ImageManifest = json(&data, "manifest")?;
    let cd = manifest.config().digest().to_string();
    let (config_data, _) = client
        .get_verified(
            &format!("/v2/{repo}/blobs/{cd}"),
            &[],
            Some(&cd),
            &format!("config {cd}"),
        )
        .await?;
    let config: ImageConfiguration = json(&config_data, "config")?;
    if config.os().to_string() != platform.os || config.architecture().to_string() != platform.arch
    {
        return Err(PullError::NoPlatform(platform.to_string()));
    }
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != manifest.layers().len() {
        return Err(PullError::Invalid(
            "its config and manifest disagree on the layer count".into(),
        ));
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let d = desc.digest().to_string();
        let (blob, _) = client
            .get_verified(
                &format!("/v2/{repo}/blobs/{d}"),
                &[],
                Some(&d),
                &format!("layer {d}"),
            )
            .await?;
        let stored = store
            .put(desc.media_type().clone(), blob)
            .map_err(|e| PullError::Invalid(e.to_string()))?;
        layers.push(LayerRef {
            descriptor: stored,
            diff_id,
            // The registry does not tell the uncompressed size; count the compressed one.
            uncompressed_size: desc.size(),
            created_by: format!("base {reference}"),
        });
    }
    Ok((BaseImage { layers, config }, manifest_digest))
}
