//! Paths hale reads from files it did not just write — the render record, `hale.lock`, the
//! fleet state — kept inside the folder they belong to.
//!
//! Those files sit in folders people commit and clone, so an entry is untrusted input: a record
//! saying `../../../victim.txt` must never make hale overwrite or delete that file. An entry is
//! accepted only when it is a plain relative path (no `..`, no root, no `.`, no backslash or NUL)
//! and, on disk, no component between the folder and the entry is a symbolic link (a link
//! committed as `base -> /home/me` would lead a write or a delete out of the folder).
//! `--force` flags override hash checks elsewhere, never this.
use std::path::{Component, Path, PathBuf};

/// Why an entry was refused. The message names the file the entry came from and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{source_file}: entry {entry:?} {why}; hale only touches files inside {root}: remove the entry (or the file) and run again")]
pub struct Escape {
    /// The file the entry was read from (`deploy/.hale-render.json`).
    pub source_file: String,
    pub entry: String,
    pub root: String,
    why: Why,
}

#[derive(Debug)]
enum Why {
    NotRelative,
    Outside,
    Symlink(PathBuf),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::NotRelative => f.write_str("is not a plain relative path"),
            Why::Outside => f.write_str("points outside its folder"),
            Why::Symlink(link) => write!(f, "goes through the symbolic link {}", link.display()),
        }
    }
}

/// `entry` as a relative path of plain segments, or `None` when it is empty, absolute, or has
/// `.`/`..` segments, a backslash or a NUL (purely lexical: the disk is not looked at).
pub fn plain_relative(entry: &str) -> Option<PathBuf> {
    if entry.is_empty() || entry.contains('\\') || entry.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for comp in Path::new(entry).components() {
        match comp {
            Component::Normal(seg) => out.push(seg),
            _ => return None,
        }
    }
    // `a//b` and a trailing `/` normalise away; a record hale wrote never has them.
    (out.as_os_str().len() == entry.len()).then_some(out)
}

/// `root/entry`, when `entry` is a plain relative path and no existing component of it under
/// `root` is a symbolic link. `source_file` names where the entry came from, for the message.
pub fn join(root: &Path, entry: &str, source_file: &Path) -> Result<PathBuf, Escape> {
    let refuse = |why| Escape {
        source_file: source_file.display().to_string(),
        entry: entry.to_string(),
        root: root.display().to_string(),
        why,
    };
    let rel = plain_relative(entry).ok_or_else(|| refuse(Why::NotRelative))?;
    let mut path = root.to_path_buf();
    for seg in rel.components() {
        path.push(seg);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(refuse(Why::Symlink(path))),
            Ok(_) => {}
            // Nothing further exists: nothing further can be a link.
            Err(_) => break,
        }
    }
    Ok(root.join(rel))
}

/// An absolute path read from a state file, accepted only when it lies under `root` (after
/// lexical normalisation) with no symbolic link between `root` and it.
pub fn within(root: &Path, path: &Path, source_file: &Path) -> Result<PathBuf, Escape> {
    let entry = path.display().to_string();
    let refuse = |why| Escape {
        source_file: source_file.display().to_string(),
        entry: entry.clone(),
        root: root.display().to_string(),
        why,
    };
    let rel = path.strip_prefix(root).map_err(|_| refuse(Why::Outside))?;
    let rel = rel.to_str().ok_or_else(|| refuse(Why::NotRelative))?;
    if plain_relative(rel).is_none() {
        return Err(refuse(Why::Outside));
    }
    join(root, rel, source_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_entries_are_accepted() {
        assert!(plain_relative("base/deployment.yaml").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../victim.txt",
            "base/../../victim.txt",
            "./base/x",
            "base/./x",
            "a\\..\\b",
            "a\0b",
            "a//b",
            "a/",
        ] {
            assert!(plain_relative(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_symlink_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("base")).unwrap();
        let err = join(dir.path(), "base/x.yaml", Path::new("rec.json")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("leaf")).unwrap();
        assert!(join(dir.path(), "leaf", Path::new("rec.json")).is_err());
        // Missing components are fine: a render creates them.
        assert_eq!(
            join(dir.path(), "new/file.yaml", Path::new("rec.json")).unwrap(),
            dir.path().join("new/file.yaml")
        );
    }

    #[test]
    fn absolute_state_paths_must_stay_under_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".hale");
        let src = Path::new("fleet.json");
        assert!(within(&root, &root.join("logs/a.log"), src).is_ok());
        assert!(within(&root, Path::new("/etc/passwd"), src).is_err());
        assert!(within(&root, &root.join("../victim.txt"), src).is_err());
        let err = within(&root, Path::new("/usr/bin/sshd"), src).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("fleet.json: entry \"/usr/bin/sshd\" points outside its folder"),
            "{err}"
        );
    }
}
