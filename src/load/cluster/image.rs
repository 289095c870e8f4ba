//! The shard image: hale itself, built with hale's own daemonless builder (no base image, no
//! Docker) and pushed to the registry the user names.
//!
//! The image holds the running hale binary at `/hale`. A release binary is static (musl:
//! scripts/release.sh), and then that is the whole image. A binary linked against the system's
//! C library (a `cargo build` on glibc) also gets its ELF interpreter and the shared libraries
//! the running process has mapped (read from `/proc/self/maps`), at the same paths, with
//! `LD_LIBRARY_PATH` naming their folders: so the hale that a test or a developer runs is the
//! hale the shards run, without a musl toolchain.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::image::auth::Keychain;
use crate::image::base::NONROOT_UID;
use crate::image::distribution::{Client, RegistryOptions};
use crate::image::layer::{Entry, LayerCache};
use crate::image::oci::{self, BlobStore, LayerRef, RunConfig};
use crate::image::platform::Platform;
use crate::image::push::{self, Pusher};
use crate::image::reference::Reference;
use crate::progress::Progress;
use crate::stop::Stop;

use super::ClusterError;

/// Fixed mtime of the layer: the same binary gives the same digest.
const MTIME: u64 = 0;

/// Build the shard image from the running binary and push it to `repository`
/// (`host[:port]/path`); returns `repository@sha256:…`, what the Job's pods pull.
pub async fn build_and_push(
    repository: &str,
    registry: &RegistryOptions,
    docker_config: PathBuf,
    progress: &Progress,
    stop: &Stop,
) -> Result<String, ClusterError> {
    let reference: Reference = format!("{repository}:hale-{}", env!("CARGO_PKG_VERSION"))
        .parse()
        .map_err(|e: crate::image::reference::ReferenceError| {
            ClusterError::BadInput(format!("--shard-registry: {e}"))
        })?;
    if reference.registry.is_none() {
        return Err(ClusterError::BadInput(format!(
            "--shard-registry {repository}: name the registry host, e.g. registry.example:5000/hale-load"
        )));
    }
    let connect = || async {
        Client::connect(&reference, registry, Keychain::new(docker_config.clone()))
            .await
            .map_err(|e| {
                ClusterError::Image(format!("pushing the shard image to {repository}: {e}"))
            })
    };
    // The same binary pushed to the same repository before: reuse it while its layer is there
    // (reading, hashing and compressing a debug build's 300 MB takes a while).
    let record = pushed_record_path(repository);
    if let Some((pushed, layer)) = record.as_deref().and_then(read_pushed_record) {
        let mut pusher = Pusher::new(connect().await?, Vec::new());
        if pusher.has_blob(&layer).await.unwrap_or(false) {
            return Ok(pushed);
        }
    }
    let image_err = |what: &str, e: &dyn std::fmt::Display| {
        ClusterError::Image(format!("building the shard image: {what}: {e}"))
    };
    let (entries, env) = tokio::task::spawn_blocking(image_entries)
        .await
        .map_err(|e| image_err("reading the hale binary", &e))?
        .map_err(|e| image_err("reading the hale binary", &e))?;
    let layer_cache = cache_dir();
    let layer = tokio::task::spawn_blocking(move || {
        let mut cache = LayerCache::new(layer_cache);
        let built = cache.build(entries, MTIME);
        if built.is_ok() {
            cache.prune();
        }
        built.map(|(layer, _)| layer)
    })
    .await
    .map_err(|e| image_err("layer", &e))?
    .map_err(|e| image_err("layer", &e))?;

    let mut store = BlobStore::default();
    let layer = LayerRef::store(&mut store, layer, "hale (the running binary)")
        .map_err(|e| image_err("layer", &e))?;
    let layer_digest = layer.descriptor.digest().to_string();
    let run = RunConfig {
        user: format!("{NONROOT_UID}:{NONROOT_UID}"),
        entrypoint: vec!["/hale".into()],
        env,
        exposed_ports: Vec::new(),
        labels: BTreeMap::from([(
            "org.opencontainers.image.title".to_string(),
            "hale load shard".to_string(),
        )]),
        working_dir: None,
    };
    let image = oci::assemble(
        &mut store,
        &Platform::host(),
        &[layer],
        &run,
        &crate::image::rfc3339(MTIME),
    )
    .map_err(|e| image_err("manifest", &e))?;

    let mut pusher = Pusher::new(connect().await?, Vec::new());
    let pushed = push::push(
        &mut pusher,
        &reference,
        &store,
        &image.manifest,
        &[],
        progress,
        stop,
    )
    .await
    .map_err(|e| {
        if matches!(e, push::PushError::Interrupted) {
            ClusterError::Interrupted
        } else {
            ClusterError::Image(format!(
                "pushing the shard image to {repository}: {:#}",
                anyhow::Error::new(e)
            ))
        }
    })?;
    if let Some(path) = record {
        let doc = serde_json::json!({"reference": pushed.reference, "layer": layer_digest});
        let _ = std::fs::create_dir_all(cache_dir())
            .and_then(|()| std::fs::write(path, doc.to_string()));
    }
    Ok(pushed.reference)
}

/// Where the last push of this binary (by path, size and mtime) to `repository` is recorded.
fn pushed_record_path(repository: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let key = format!(
        "{repository}\n{}\n{}\n{}\n{}",
        exe.display(),
        meta.len(),
        mtime.as_nanos(),
        env!("CARGO_PKG_VERSION")
    );
    let digest = crate::image::layer::sha256(key.as_bytes());
    Some(cache_dir().join(format!("pushed-{}.json", &digest[7..23])))
}

fn read_pushed_record(path: &Path) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    Some((
        doc["reference"].as_str()?.to_string(),
        doc["layer"].as_str()?.to_string(),
    ))
}

/// Compressed layers are kept between runs (a 300 MB debug binary takes seconds to gzip).
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hale").join("shard-image")
}

/// The files of the image and its environment: the binary, and for a dynamically linked one
/// its interpreter and libraries.
fn image_entries() -> std::io::Result<(Vec<Entry>, Vec<String>)> {
    let exe = std::env::current_exe()?;
    let binary = std::fs::read(&exe)?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut env = Vec::new();
    if let Some(interpreter) = elf_interpreter(&binary) {
        files.insert(interpreter.clone(), std::fs::read(&interpreter)?);
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        for library in mapped_libraries(&maps, &exe) {
            files.insert(library.clone(), std::fs::read(&library)?);
        }
        let dirs: BTreeSet<&str> = files
            .keys()
            .filter_map(|p| Path::new(p).parent()?.to_str())
            .collect();
        env.push(format!(
            "LD_LIBRARY_PATH={}",
            dirs.into_iter().collect::<Vec<_>>().join(":")
        ));
    }
    files.insert("/hale".into(), binary);
    let mut dirs = BTreeSet::new();
    for path in files.keys() {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
            dirs.insert(p.to_string_lossy().trim_start_matches('/').to_string());
            parent = p.parent();
        }
    }
    let mut entries: Vec<Entry> = dirs
        .into_iter()
        .map(|path| Entry::Dir { path, mode: 0o755 })
        .collect();
    entries.extend(files.into_iter().map(|(path, data)| Entry::File {
        path: path.trim_start_matches('/').to_string(),
        mode: 0o755,
        data,
    }));
    Ok((entries, env))
}

/// The `PT_INTERP` of a 64-bit little-endian ELF file: `None` for a static binary.
fn elf_interpreter(elf: &[u8]) -> Option<String> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    if elf.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 3 {
            let offset = u64_at(ph + 8)? as usize;
            let size = u64_at(ph + 32)? as usize;
            let raw = elf.get(offset..offset + size)?;
            let text = raw.split(|b| *b == 0).next()?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

/// The shared libraries a process has mapped, from its `/proc/<pid>/maps` text.
fn mapped_libraries(maps: &str, exe: &Path) -> BTreeSet<String> {
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/') && Path::new(path) != exe)
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or_default();
            name.ends_with(".so") || name.contains(".so.")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_binary_names_its_interpreter_and_libraries() {
        let exe = std::env::current_exe().unwrap();
        let binary = std::fs::read(&exe).unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libraries = mapped_libraries(&maps, &exe);
        match elf_interpreter(&binary) {
            Some(interpreter) => {
                assert!(interpreter.starts_with('/'), "{interpreter}");
                assert!(
                    libraries.iter().any(|l| l.contains("libc.so")),
                    "{libraries:?}"
                );
            }
            None => assert!(libraries.is_empty(), "a static binary maps no library"),
        }
    }

    #[test]
    fn a_static_elf_has_no_interpreter_and_garbage_is_not_elf() {
        assert_eq!(elf_interpreter(b"not an elf file at all"), None);
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(elf_interpreter(&header), None);
    }
}
