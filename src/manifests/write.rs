//! Writing a rendered set to disk: every file through a temporary file and rename, and never
//! over a file edited by hand unless forced.
//!
//! hale records the SHA-256 of each file it writes in `<out>/.hale-render.json`. A later render
//! overwrites (or removes, when no longer rendered) only files whose bytes still match that
//! record; a file changed since, or one hale never wrote, stops the whole write before any file
//! is touched — unless `force`.
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ManifestError, Rendered};

/// The record of what hale wrote, beside the files.
pub const RECORD: &str = ".hale-render.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// Relative path → SHA-256 (hex) of the bytes hale wrote.
    files: BTreeMap<String, String>,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Written,
    Unchanged,
    Removed,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenFile {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub status: FileStatus,
}

/// The render report (docs/json/deploy.md).
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    pub out: PathBuf,
    pub files: Vec<WrittenFile>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError {
    let path = path.display().to_string();
    move |source| ManifestError::Io {
        action,
        path,
        source,
    }
}

fn read_existing(path: &Path) -> Result<Option<Vec<u8>>, ManifestError> {
    match crate::userfile::read(path, crate::userfile::Limit::SOURCE) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path)(e)),
    }
}

/// Write `set` under `out`. Checks every file first; writes nothing if one is hand-edited.
pub fn write(set: &Rendered, out: &Path, force: bool) -> Result<WriteReport, ManifestError> {
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ManifestError::invalid(format!(
            "{} is a symbolic link: hale writes and removes rendered files only in a real folder; \
             pass --out with a folder (or replace the link)",
            out.display()
        )));
    }
    let record_path = out.join(RECORD);
    let record: Record = match read_existing(&record_path)? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Record::default(),
    };
    let owned = |rel: &str, bytes: &[u8]| record.files.get(rel) == Some(&sha256(bytes));

    // The record sits in a folder people commit and clone: every entry must stay inside `out`
    // (checked before anything is read, written or removed; `force` never overrides this).
    let mut confined = BTreeMap::new();
    for rel in record.files.keys() {
        confined.insert(rel.as_str(), crate::confine::join(out, rel, &record_path)?);
    }

    // Plan: decide every file's fate before touching any.
    let mut plan = Vec::new();
    for f in &set.files {
        let path = crate::confine::join(out, &f.path, &record_path)?;
        let status = match read_existing(&path)? {
            Some(existing) if existing == f.contents.as_bytes() => FileStatus::Unchanged,
            Some(existing) if !force && !owned(&f.path, &existing) => {
                return Err(ManifestError::HandEdited(path.display().to_string()));
            }
            _ => FileStatus::Written,
        };
        plan.push((f, path, status));
    }
    let mut removals = Vec::new();
    for (rel, path) in confined {
        if set.get(rel).is_some() {
            continue;
        }
        if let Some(existing) = read_existing(&path)? {
            if !force && !owned(rel, &existing) {
                return Err(ManifestError::HandEdited(path.display().to_string()));
            }
            removals.push((rel.to_string(), path));
        }
    }

    let mut report = WriteReport {
        out: out.to_path_buf(),
        files: Vec::new(),
    };
    let mut new_record = Record {
        version: 1,
        files: BTreeMap::new(),
    };
    for (f, path, status) in plan {
        if status == FileStatus::Written {
            atomic_write(&path, f.contents.as_bytes())?;
        }
        new_record
            .files
            .insert(f.path.clone(), sha256(f.contents.as_bytes()));
        report.files.push(WrittenFile {
            path: f.path.clone(),
            kind: f.kind.clone(),
            status,
        });
    }
    for (rel, path) in removals {
        std::fs::remove_file(&path).map_err(io("removing", &path))?;
        report.files.push(WrittenFile {
            path: rel,
            kind: None,
            status: FileStatus::Removed,
        });
    }
    let mut bytes =
        serde_json::to_vec_pretty(&new_record).map_err(|source| ManifestError::Json {
            what: RECORD.into(),
            source,
        })?;
    bytes.push(b'\n');
    atomic_write(&record_path, &bytes)?;
    Ok(report)
}

/// Write through a temporary file in the same folder, then rename over the target.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ManifestError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::userfile::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".hale-tmp-")
        .tempfile_in(dir)
        .map_err(io("creating a temporary file in", dir))?;
    tmp.write_all(bytes).map_err(io("writing", path))?;
    tmp.as_file().sync_all().map_err(io("syncing", path))?;
    // Rendered manifests are meant to be read by other tools and people: 0644, not 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io("setting permissions of", path))?;
    }
    tmp.persist(path)
        .map_err(|e| io("renaming into", path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::{render, tests::full_spec};

    #[test]
    fn rewrite_is_unchanged_and_hand_edits_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let set = render(&full_spec()).unwrap();
        let first = write(&set, dir.path(), false).unwrap();
        assert!(first.files.iter().all(|f| f.status == FileStatus::Written));
        let second = write(&set, dir.path(), false).unwrap();
        assert!(second
            .files
            .iter()
            .all(|f| f.status == FileStatus::Unchanged));

        let edited = dir.path().join("base/deployment.yaml");
        std::fs::write(&edited, "hand edit\n").unwrap();
        let mut other = full_spec();
        other.replicas = 3;
        let changed = render(&other).unwrap();
        let err = write(&changed, dir.path(), false).unwrap_err();
        assert!(matches!(err, ManifestError::HandEdited(_)), "{err}");
        // Nothing was written: the service file still has the old content.
        assert_eq!(std::fs::read_to_string(&edited).unwrap(), "hand edit\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("base/horizontalpodautoscaler.yaml")).unwrap(),
            set.get("base/horizontalpodautoscaler.yaml")
                .unwrap()
                .contents
        );
        write(&changed, dir.path(), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&edited).unwrap(),
            changed.get("base/deployment.yaml").unwrap().contents
        );
    }

    #[test]
    fn a_record_entry_outside_the_folder_is_refused_even_with_force() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("deploy");
        let set = render(&full_spec()).unwrap();
        write(&set, &out, false).unwrap();
        let victim = parent.path().join("victim.txt");
        std::fs::write(&victim, "precious\n").unwrap();
        for entry in [
            "../victim.txt",
            victim.to_str().unwrap(),
            "base/../../victim.txt",
        ] {
            let record = serde_json::json!({
                "version": 1,
                "files": { entry: sha256(b"precious\n") },
            });
            std::fs::write(out.join(RECORD), record.to_string()).unwrap();
            for force in [false, true] {
                let err = write(&set, &out, force).unwrap_err();
                assert!(matches!(err, ManifestError::Escape(_)), "{entry}: {err}");
                assert!(err.to_string().contains(entry), "{err}");
            }
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        }
    }

    #[test]
    fn a_symlinked_folder_inside_the_output_is_not_followed() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("deploy");
        let set = render(&full_spec()).unwrap();
        write(&set, &out, false).unwrap();
        let elsewhere = parent.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("keep.txt"), "precious\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("link")).unwrap();
        let record = serde_json::json!({
            "version": 1,
            "files": { "link/keep.txt": sha256(b"precious\n") },
        });
        std::fs::write(out.join(RECORD), record.to_string()).unwrap();
        let err = write(&set, &out, true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(elsewhere.join("keep.txt").exists());
        // The output folder itself as a link is refused too.
        let linked = parent.path().join("deploy-link");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        assert!(matches!(
            write(&set, &linked, true).unwrap_err(),
            ManifestError::Invalid(_)
        ));
    }

    #[test]
    fn files_no_longer_rendered_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        write(&render(&full_spec()).unwrap(), dir.path(), false).unwrap();
        let mut fixed = full_spec();
        fixed.autoscale = None;
        let report = write(&render(&fixed).unwrap(), dir.path(), false).unwrap();
        assert!(report
            .files
            .iter()
            .any(|f| f.status == FileStatus::Removed
                && f.path == "base/horizontalpodautoscaler.yaml"));
        assert!(!dir
            .path()
            .join("base/horizontalpodautoscaler.yaml")
            .exists());
    }
}
