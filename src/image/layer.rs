//! Reproducible layers: a tar written header by header (sorted paths, one fixed mtime, uid/gid
//! 0, no user or group names, explicit modes), gzipped at a fixed level with no timestamp or
//! file name, so a layer's digest depends on its content alone.
use std::collections::BTreeSet;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use sha2::{Digest as _, Sha256};

/// One entry of a layer. Paths are relative to the root (`etc/passwd`), without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
}

impl Entry {
    fn path(&self) -> &str {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } => path,
        }
    }
}

/// A finished layer: the gzipped blob and the digests an image needs.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The compressed bytes (what a registry stores).
    pub blob: Vec<u8>,
    /// `sha256:<hex>` of `blob`.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar (the image config's diff_id).
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// A path the tar format cannot carry in a plain ustar header.
#[derive(Debug, thiserror::Error)]
#[error("layer path {0:?} is too long or not plain (at most 255 bytes, no `..`, no leading `/`)")]
pub struct PathError(pub String);

/// `sha256:<hex>` of some bytes.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Build a layer from `entries` (in any order; they are sorted) with every mtime set to `mtime`.
pub fn build(entries: Vec<Entry>, mtime: u64) -> Result<Layer, PathError> {
    let tar = tar(entries, mtime)?;
    let diff_id = sha256(&tar);
    let uncompressed_size = tar.len() as u64;
    let blob = gzip(&tar);
    Ok(Layer {
        digest: sha256(&blob),
        blob,
        diff_id,
        uncompressed_size,
    })
}

/// Compressed layers kept between builds, by the digest of their uncompressed tar: compressing
/// the same tar gives the same bytes every time, so a warm build reuses them instead of
/// compressing a binary that did not change. Each entry is checked against its digest when
/// read (a damaged one is compressed again); `prune` drops the ones a build did not use.
#[derive(Debug)]
pub struct LayerCache {
    dir: PathBuf,
    used: BTreeSet<PathBuf>,
}

impl LayerCache {
    pub fn new(dir: PathBuf) -> LayerCache {
        LayerCache {
            dir,
            used: BTreeSet::new(),
        }
    }

    /// [`build`], with the compressed blob taken from the cache when it holds this tar's.
    /// Returns the layer and whether it came from the cache. A cache that cannot be written
    /// only costs the next build its reuse.
    pub fn build(&mut self, entries: Vec<Entry>, mtime: u64) -> Result<(Layer, bool), PathError> {
        let tar = tar(entries, mtime)?;
        let diff_id = sha256(&tar);
        let uncompressed_size = tar.len() as u64;
        let path = self
            .dir
            .join(format!("{}.gz", diff_id.trim_start_matches("sha256:")));
        self.used.insert(path.clone());
        if let Some(blob) = std::fs::read(&path)
            .ok()
            .filter(|blob| gunzip_digest(blob).as_deref() == Some(diff_id.as_str()))
        {
            let layer = Layer {
                digest: sha256(&blob),
                blob,
                diff_id,
                uncompressed_size,
            };
            return Ok((layer, true));
        }
        let blob = gzip(&tar);
        let _ = write_atomically(&path, &blob);
        let layer = Layer {
            digest: sha256(&blob),
            blob,
            diff_id,
            uncompressed_size,
        };
        Ok((layer, false))
    }

    /// Remove the cached layers this build did not use (an older binary's).
    pub fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "gz") && !self.used.contains(&path) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// `sha256:<hex>` of what a gzip blob decompresses to; None if it is not gzip.
fn gunzip_digest(blob: &[u8]) -> Option<String> {
    let mut decoder = flate2::read::GzDecoder::new(blob);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return None,
        }
    }
    Some(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::userfile::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An uncompressed tar of `entries`, sorted, every mtime `mtime`.
pub fn tar(mut entries: Vec<Entry>, mtime: u64) -> Result<Vec<u8>, PathError> {
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    entries.dedup_by(|a, b| a.path() == b.path());
    let mut tar = Vec::new();
    for entry in &entries {
        match entry {
            Entry::Dir { path, mode } => {
                let name = format!("{}/", path.trim_end_matches('/'));
                tar.extend_from_slice(&header(&name, *mode, 0, mtime, b'5')?);
            }
            Entry::File { path, mode, data } => {
                tar.extend_from_slice(&header(path, *mode, data.len() as u64, mtime, b'0')?);
                tar.extend_from_slice(data);
                let pad = (512 - data.len() % 512) % 512;
                tar.extend(std::iter::repeat_n(0u8, pad));
            }
        }
    }
    // Two zero blocks end the archive.
    tar.extend(std::iter::repeat_n(0u8, 1024));
    Ok(tar)
}

/// gzip with level 6 of flate2's default (miniz_oxide) backend, mtime 0 and no file name.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzBuilder::new().write(Vec::new(), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn header(path: &str, mode: u32, size: u64, mtime: u64, kind: u8) -> Result<[u8; 512], PathError> {
    let bad = || PathError(path.to_string());
    if path.starts_with('/') || path.split('/').any(|c| c == "..") || !path.is_ascii() {
        return Err(bad());
    }
    // ustar: names over 100 bytes go into the 155-byte prefix, split at a `/`.
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        let split = path[..path.len().min(156)]
            .rfind('/')
            .filter(|&i| path.len() - i - 1 <= 100 && i <= 155)
            .ok_or_else(bad)?;
        (&path[..split], &path[split + 1..])
    };
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let chk = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(chk.as_bytes());
    Ok(h)
}

/// Zero-padded octal filling all but the last byte of the field, then NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        vec![
            Entry::File {
                path: "etc/passwd".into(),
                mode: 0o644,
                data: b"root:x:0:0::/root:/sbin/nologin\n".to_vec(),
            },
            Entry::Dir {
                path: "etc".into(),
                mode: 0o755,
            },
        ]
    }

    #[test]
    fn same_entries_in_any_order_give_the_same_digest() {
        let a = build(sample(), 0).unwrap();
        let mut reversed = sample();
        reversed.reverse();
        let b = build(reversed, 0).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.diff_id, b.diff_id);
        assert_ne!(a.digest, build(sample(), 1).unwrap().digest, "mtime counts");
    }

    #[test]
    fn headers_are_valid_ustar_read_back_by_gzip_and_tar() {
        let layer = build(sample(), 1_700_000_000).unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&layer.blob[..]), &mut tar)
            .unwrap();
        assert_eq!(sha256(&tar), layer.diff_id);
        assert_eq!(&tar[..4], b"etc/", "sorted: the folder first");
        assert_eq!(&tar[257..262], b"ustar");
        // The checksum field holds the sum of the header with the field read as spaces.
        let mut h = tar[..512].to_vec();
        let stored =
            u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap().trim(), 8).unwrap();
        h[148..156].fill(b' ');
        assert_eq!(stored, h.iter().map(|&b| u32::from(b)).sum::<u32>());
        // gzip header: no mtime (bytes 4..8), no file name flag.
        assert_eq!(&layer.blob[4..8], &[0, 0, 0, 0]);
        assert_eq!(layer.blob[3] & 0x08, 0);
    }

    #[test]
    fn long_paths_use_the_prefix_and_escapes_are_refused() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(50));
        assert!(build(
            vec![Entry::File {
                path: long,
                mode: 0o644,
                data: vec![]
            }],
            0
        )
        .is_ok());
        for bad in ["/etc/x", "a/../b"] {
            assert!(build(
                vec![Entry::Dir {
                    path: bad.into(),
                    mode: 0o755
                }],
                0
            )
            .is_err());
        }
    }
}
