//! OCI image documents (oci-spec types) and the content-addressed blobs they point at. JSON is
//! written with sorted keys (serde_json's map is ordered), so a config, manifest or index has
//! one byte form and one digest.
use std::collections::BTreeMap;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder, RootFsBuilder,
};
use serde::Serialize;

use super::layer::{sha256, Layer};
use super::platform::Platform;
use super::ImageError;

/// Blobs by digest, plus the media type each was stored as.
#[derive(Debug, Default, Clone)]
pub struct BlobStore {
    pub blobs: BTreeMap<String, Vec<u8>>,
}

impl BlobStore {
    /// Store `data` and describe it.
    pub fn put(&mut self, media_type: MediaType, data: Vec<u8>) -> Result<Descriptor, ImageError> {
        let digest = sha256(&data);
        let size = data.len() as u64;
        self.blobs.insert(digest.clone(), data);
        descriptor(media_type, &digest, size)
    }

    /// Store a JSON document in its canonical form.
    pub fn put_json<T: Serialize>(
        &mut self,
        media_type: MediaType,
        doc: &T,
    ) -> Result<Descriptor, ImageError> {
        self.put(media_type, canonical_json(doc)?)
    }

    pub fn get(&self, digest: &str) -> Option<&[u8]> {
        self.blobs.get(digest).map(Vec::as_slice)
    }
}

/// JSON with sorted keys and no insignificant whitespace.
pub fn canonical_json<T: Serialize>(doc: &T) -> Result<Vec<u8>, ImageError> {
    let value = serde_json::to_value(doc)?;
    Ok(serde_json::to_vec(&value)?)
}

pub fn descriptor(
    media_type: MediaType,
    digest: &str,
    size: u64,
) -> Result<Descriptor, ImageError> {
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest.parse::<oci_spec::image::Digest>()?)
        .size(size)
        .build()?)
}

/// A layer already in the store, as the config and manifest see it.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub descriptor: Descriptor,
    pub diff_id: String,
    pub uncompressed_size: u64,
    pub created_by: String,
}

impl LayerRef {
    pub fn store(
        store: &mut BlobStore,
        layer: Layer,
        created_by: &str,
    ) -> Result<Self, ImageError> {
        let descriptor = store.put(MediaType::ImageLayerGzip, layer.blob)?;
        Ok(LayerRef {
            descriptor,
            diff_id: layer.diff_id,
            uncompressed_size: layer.uncompressed_size,
            created_by: created_by.to_string(),
        })
    }
}

/// The runtime settings of an image's config.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub user: String,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub working_dir: Option<String>,
}

/// One platform's image: its manifest descriptor (with the platform set) and sizes.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub manifest: Descriptor,
    pub config_digest: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub layers: usize,
}

pub fn oci_platform(p: &Platform) -> Result<oci_spec::image::Platform, ImageError> {
    let mut b = PlatformBuilder::default()
        .os(Os::from(p.os.as_str()))
        .architecture(Arch::from(p.arch.as_str()));
    if let Some(v) = &p.variant {
        b = b.variant(v.clone());
    }
    Ok(b.build()?)
}

/// Write the config and manifest of one platform's image into the store.
pub fn assemble(
    store: &mut BlobStore,
    platform: &Platform,
    layers: &[LayerRef],
    run: &RunConfig,
    created: &str,
) -> Result<PlatformImage, ImageError> {
    let mut config = ConfigBuilder::default()
        .user(run.user.clone())
        .entrypoint(run.entrypoint.clone())
        .env(run.env.clone())
        .labels(
            run.labels
                .clone()
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    if !run.exposed_ports.is_empty() {
        config = config.exposed_ports(run.exposed_ports.clone());
    }
    if let Some(dir) = &run.working_dir {
        config = config.working_dir(dir.clone());
    }
    let history = layers
        .iter()
        .map(|l| {
            HistoryBuilder::default()
                .created(created.to_string())
                .created_by(l.created_by.clone())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut image = ImageConfigurationBuilder::default()
        .created(created.to_string())
        .architecture(Arch::from(platform.arch.as_str()))
        .os(Os::from(platform.os.as_str()))
        .config(config.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>())
                .build()?,
        )
        .history(history);
    if let Some(v) = &platform.variant {
        image = image.variant(v.clone());
    }
    let image: ImageConfiguration = image.build()?;
    let config_desc = store.put_json(MediaType::ImageConfig, &image)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc.clone())
        .layers(
            layers
                .iter()
                .map(|l| l.descriptor.clone())
                .collect::<Vec<_>>(),
        )
        .build()?;
    let mut manifest_desc = store.put_json(MediaType::ImageManifest, &manifest)?;
    manifest_desc.set_platform(Some(oci_platform(platform)?));
    let compressed_size = config_desc.size()
        + manifest_desc.size()
        + layers.iter().map(|l| l.descriptor.size()).sum::<u64>();
    Ok(PlatformImage {
        platform: platform.clone(),
        manifest: manifest_desc,
        config_digest: config_desc.digest().to_string(),
        compressed_size,
        uncompressed_size: layers.iter().map(|l| l.uncompressed_size).sum(),
        layers: layers.len(),
    })
}

/// An image index over several platforms' manifests.
pub fn index(store: &mut BlobStore, images: &[PlatformImage]) -> Result<Descriptor, ImageError> {
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(
            images
                .iter()
                .map(|i| i.manifest.clone())
                .collect::<Vec<_>>(),
        )
        .build()?;
    store.put_json(MediaType::ImageIndex, &index)
}
