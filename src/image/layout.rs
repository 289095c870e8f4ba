//! Images on disk: OCI image layout folders (written and read, for `--base`) and docker-archive
//! tars (`docker load`). Writes go to a staging folder or file beside the target, then rename.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};
use serde::Serialize;

use super::layer::{self, Entry};
use super::oci::{canonical_json, BlobStore, LayerRef};
use super::platform::Platform;
use super::ImageError;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

/// Write `top` (a manifest or index) and every blob into an OCI layout folder at `dir`,
/// replacing an earlier layout there. `ref_name` tags the top descriptor.
pub fn write_oci_layout(
    dir: &Path,
    store: &BlobStore,
    top: &Descriptor,
    ref_name: &str,
) -> Result<(), ImageError> {
    if dir.exists() && !dir.join("oci-layout").exists() && !is_empty_dir(dir) {
        return Err(ImageError::NotALayout(dir.to_path_buf()));
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    crate::userfile::create_dir_all(parent).map_err(io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".hale-oci-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let root = staging.path();
    crate::userfile::create_dir_all(root.join("blobs/sha256")).map_err(io(root))?;
    for (digest, data) in &store.blobs {
        let p = root.join(blob_path(digest));
        std::fs::write(&p, data).map_err(io(&p))?;
    }
    let mut top = top.clone();
    top.set_annotations(Some(HashMap::from([(
        REF_NAME.to_string(),
        ref_name.to_string(),
    )])));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![top])
        .build()?;
    let p = root.join("index.json");
    std::fs::write(&p, canonical_json(&index)?).map_err(io(&p))?;
    let p = root.join("oci-layout");
    std::fs::write(&p, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io(&p))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let staged = staging.keep();
    // tempfile makes its folders 0700; a layout is meant to be read by other tools and users.
    std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(io(&staged))?;
    std::fs::rename(&staged, dir).map_err(io(dir))?;
    Ok(())
}

fn perms(file: &std::fs::File, path: &Path) -> Result<std::fs::Permissions, ImageError> {
    Ok(file.metadata().map_err(io(path))?.permissions())
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveManifest<'a> {
    config: String,
    repo_tags: &'a [String],
    layers: Vec<String>,
}

/// A docker-archive tar (what `docker load` reads) of one platform's image, in memory.
pub fn docker_archive(
    store: &BlobStore,
    manifest: &Descriptor,
    tags: &[String],
) -> Result<Vec<u8>, ImageError> {
    let m: ImageManifest = read_json(store, manifest.digest().as_ref())?;
    let mut digests = vec![
        m.config().digest().to_string(),
        manifest.digest().to_string(),
    ];
    digests.extend(m.layers().iter().map(|l| l.digest().to_string()));
    let doc = [ArchiveManifest {
        config: blob_path(m.config().digest().as_ref()),
        repo_tags: tags,
        layers: m
            .layers()
            .iter()
            .map(|l| blob_path(l.digest().as_ref()))
            .collect(),
    }];
    let mut entries = vec![
        Entry::Dir {
            path: "blobs".into(),
            mode: 0o755,
        },
        Entry::Dir {
            path: "blobs/sha256".into(),
            mode: 0o755,
        },
        Entry::File {
            path: "manifest.json".into(),
            mode: 0o644,
            data: serde_json::to_vec(&doc)?,
        },
    ];
    for d in digests {
        let data = store
            .get(&d)
            .ok_or_else(|| ImageError::MissingBlob(d.clone()))?;
        entries.push(Entry::File {
            path: blob_path(&d),
            mode: 0o644,
            data: data.to_vec(),
        });
    }
    layer::tar(entries, 0).map_err(|e| ImageError::Layer(e.to_string()))
}

/// Write bytes to `path` through a temporary file beside it.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ImageError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::userfile::create_dir_all(parent).map_err(io(parent))?;
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
    std::io::Write::write_all(&mut tmp, data).map_err(io(path))?;
    // tempfile creates 0600; these files are build outputs anyone may read.
    let mut p = perms(tmp.as_file(), path)?;
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o644);
    tmp.as_file().set_permissions(p).map_err(io(path))?;
    tmp.persist(path).map_err(|e| ImageError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(
    store: &BlobStore,
    digest: &str,
) -> Result<T, ImageError> {
    let data = store
        .get(digest)
        .ok_or_else(|| ImageError::MissingBlob(digest.to_string()))?;
    Ok(serde_json::from_slice(data)?)
}

/// A base image read from an OCI layout folder, for one platform.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub layers: Vec<LayerRef>,
    pub config: ImageConfiguration,
}

/// Read the image for `platform` from the OCI layout at `dir`, copying its layers into `store`.
pub fn read_base(
    dir: &Path,
    platform: &Platform,
    store: &mut BlobStore,
) -> Result<BaseImage, ImageError> {
    if !dir.join("oci-layout").is_file() {
        return Err(ImageError::NotALayout(dir.to_path_buf()));
    }
    let read = |digest: &str| -> Result<Vec<u8>, ImageError> {
        let p: PathBuf = dir.join(blob_path(digest));
        std::fs::read(&p).map_err(io(&p))
    };
    let p = dir.join("index.json");
    let index: ImageIndex = serde_json::from_slice(&std::fs::read(&p).map_err(io(&p))?)?;
    let mut candidates: Vec<Descriptor> = index.manifests().clone();
    let mut chosen = None;
    while let Some(d) = candidates.pop() {
        match d.media_type() {
            MediaType::ImageIndex => {
                let inner: ImageIndex = serde_json::from_slice(&read(d.digest().as_ref())?)?;
                candidates.extend(inner.manifests().iter().cloned());
            }
            MediaType::ImageManifest => {
                let m: ImageManifest = serde_json::from_slice(&read(d.digest().as_ref())?)?;
                let config: ImageConfiguration =
                    serde_json::from_slice(&read(m.config().digest().as_ref())?)?;
                if config.os().to_string() == platform.os
                    && config.architecture().to_string() == platform.arch
                {
                    chosen = Some((m, config));
                    break;
                }
            }
            _ => {}
        }
    }
    let (manifest, config) = chosen.ok_or_else(|| ImageError::Base {
        base: dir.display().to_string(),
        reason: format!("it has no image for {platform}"),
    })?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::Base {
            base: dir.display().to_string(),
            reason: "its config and manifest disagree on the layer count".into(),
        });
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let data = read(desc.digest().as_ref())?;
        if layer::sha256(&data) != desc.digest().to_string() {
            return Err(ImageError::Base {
                base: dir.display().to_string(),
                reason: format!("blob {} does not match its digest", desc.digest()),
            });
        }
        let stored = store.put(desc.media_type().clone(), data)?;
        layers.push(LayerRef {
            descriptor: stored,
            diff_id,
            // The base's uncompressed size is not recorded; count its compressed size.
            uncompressed_size: desc.size(),
            created_by: format!("base {}", dir.display()),
        });
    }
    Ok(BaseImage { layers, config })
}
