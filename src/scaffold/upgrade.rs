//! `hale upgrade`: re-render a service with the current templates and the inputs its
//! `hale.lock` records, and bring over the changes to files the user has not touched.
//!
//! A file is the user's when its bytes differ from what the templates rendered last time (the
//! lock's hash). Such a file is left alone and reported, or, with `merge`, replaced by a
//! three-way merge of the last render (`.hale-base/`), the user's file and the new render, with
//! git-style conflict markers where both changed the same lines.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::lock::{self, Lock, LockedFile, BASE_DIR, LOCK_FILE};
use super::{sha256, RenderedFile, ScaffoldError, TemplateContext};

/// What `hale upgrade` was asked to do.
#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// The service's root, where `hale.lock` is.
    pub root: PathBuf,
    /// A template set of the user's own instead of the built-in one.
    pub templates: Option<PathBuf>,
    /// Write a three-way merge into files the user changed, instead of leaving them alone.
    pub merge: bool,
    /// A new repository for hale's GitHub Action (`HALE_ACTION`); `None` keeps the lock's.
    pub hale_action: Option<String>,
}

/// What the upgrade does to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The user had not changed it: replaced by the new render.
    Updated,
    /// Nothing to do: the template did not change it, or the file already matches.
    Unchanged,
    /// Left exactly as it is; [`Reason`] says why.
    Kept,
    /// The user's changes and the template's merged without conflict.
    Merged,
    /// Merged with conflict markers where both changed the same lines.
    Conflicted,
    /// New in the template set: written.
    Added,
    /// Gone from the template set, and the user had not changed it: deleted.
    Removed,
}

/// Why a file was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The user changed it and the template changed too (run with `--merge`).
    Modified,
    /// The user deleted it; it stays deleted.
    Deleted,
    /// New in the template set, but the user already has a different file at that path.
    Untracked,
    /// Gone from the template set, but the user changed it: no longer managed by hale.
    RemovedFromTemplates,
    /// Changed by the user, and its base in `.hale-base/` is missing or altered, so there is
    /// nothing to merge against.
    NoBase,
}

/// One file's outcome.
#[derive(Debug, Clone)]
pub struct Change {
    /// Relative to the service root, `/`-separated.
    pub path: String,
    pub status: Status,
    pub reason: Option<Reason>,
    /// The file's bytes now (`None`: absent).
    pub before: Option<Vec<u8>>,
    /// Its bytes after the upgrade (`None`: absent).
    pub after: Option<Vec<u8>>,
}

impl Change {
    /// Whether applying the upgrade touches this file.
    pub fn writes(&self) -> bool {
        self.before != self.after
    }

    /// The change as a unified diff (`a/PATH` → `b/PATH`, `/dev/null` for an absent side).
    pub fn unified_diff(&self) -> String {
        let side = |bytes: &Option<Vec<u8>>, prefix: &str| match bytes {
            Some(_) => format!("{prefix}/{}", self.path),
            None => "/dev/null".to_string(),
        };
        let (old, new) = (side(&self.before, "a"), side(&self.after, "b"));
        let text = |bytes: &Option<Vec<u8>>| {
            bytes
                .as_deref()
                .map(|b| std::str::from_utf8(b).map(str::to_string))
                .unwrap_or(Ok(String::new()))
        };
        match (text(&self.before), text(&self.after)) {
            (Ok(before), Ok(after)) => similar::TextDiff::from_lines(&before, &after)
                .unified_diff()
                .context_radius(3)
                .header(&old, &new)
                .to_string(),
            _ => format!("Binary files {old} and {new} differ\n"),
        }
    }
}

/// A planned upgrade, nothing written yet.
#[derive(Debug, Clone)]
pub struct Upgrade {
    pub root: PathBuf,
    pub name: String,
    /// The template set before and after.
    pub from: lock::Templates,
    pub to: lock::Templates,
    /// Every file hale manages or would write, sorted by path.
    pub changes: Vec<Change>,
    lock: Lock,
    /// `.hale-base/` files to write (`Some`) or delete (`None`).
    bases: Vec<(String, Option<Vec<u8>>)>,
}

/// Read a file, `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ScaffoldError> {
    match crate::userfile::read(path, crate::userfile::Limit::SOURCE) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ScaffoldError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The three-way merge of `base` (the last render), `ours` (the user's file) and `theirs` (the
/// new render): `Ok` when clean, `Err` with git-style conflict markers otherwise.
pub fn merge3(base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let mut opts = diffy::MergeOptions::new();
    opts.set_conflict_style(diffy::ConflictStyle::Merge)
        .set_incomplete_hunk_style(diffy::IncompleteHunkStyle::Git);
    opts.merge_bytes(base, ours, theirs)
}

/// Work out the upgrade of the service at `opts.root`. Reads the service, writes nothing.
pub fn plan(opts: &UpgradeOptions) -> Result<Upgrade, ScaffoldError> {
    let root = &opts.root;
    let old = Lock::read(root)?;
    let mut context = TemplateContext::new(&old.inputs.name, Some(&old.inputs.module));
    context.ci = old.inputs.ci;
    context.grpc = old.inputs.grpc;
    // The action the service was made with stays, unless a new one is asked for; a lock
    // without one keeps installing from a release folder even when this build knows an action,
    // so an upgrade never changes how the pipeline gets hale unasked.
    context.hale_action = match &opts.hale_action {
        Some(action) => {
            super::validate_action(action)?;
            action.clone()
        }
        None => old.inputs.hale_action.clone().unwrap_or_default(),
    };
    let (set, rendered) = super::render(&context, opts.templates.as_deref())?;
    let fresh = Lock::for_render(&context, &set, &rendered);

    let base_of = |entry: &LockedFile| -> Result<Option<Vec<u8>>, ScaffoldError> {
        let bytes = read_optional(&inside(&root.join(BASE_DIR), &entry.path, root)?)?;
        Ok(bytes.filter(|b| sha256(b) == entry.sha256))
    };

    let mut changes = Vec::new();
    let mut entries: Vec<LockedFile> = Vec::new();
    let mut bases = Vec::new();
    let new_paths: BTreeSet<String> = fresh.files.iter().map(|f| f.path.clone()).collect();

    for file in &rendered {
        let path = lock::slash_path(&file.path);
        let new_entry = LockedFile::of(file);
        let disk = read_optional(&inside(root, &path, root)?)?;
        let mut change = |status, reason, after: Option<Vec<u8>>| {
            changes.push(Change {
                path: path.clone(),
                status,
                reason,
                before: disk.clone(),
                after,
            })
        };
        // Track the new render: its lock entry, and its base when that differs on disk.
        let mut track = |entries: &mut Vec<LockedFile>, file: &RenderedFile| {
            entries.push(new_entry.clone());
            bases.push((path.clone(), Some(file.contents.clone())));
        };
        match (old.entry(&path), &disk) {
            (Some(entry), None) => {
                change(Status::Kept, Some(Reason::Deleted), None);
                entries.push(entry.clone());
            }
            (Some(entry), Some(current)) => {
                let current_hash = sha256(current);
                if current_hash == new_entry.sha256 || entry.sha256 == new_entry.sha256 {
                    change(Status::Unchanged, None, disk.clone());
                    track(&mut entries, file);
                } else if current_hash == entry.sha256 {
                    change(Status::Updated, None, Some(file.contents.clone()));
                    track(&mut entries, file);
                } else if !opts.merge {
                    change(Status::Kept, Some(Reason::Modified), disk.clone());
                    entries.push(entry.clone());
                } else if let Some(base) = base_of(entry)? {
                    match merge3(&base, current, &file.contents) {
                        Ok(merged) => change(Status::Merged, None, Some(merged)),
                        Err(marked) => change(Status::Conflicted, None, Some(marked)),
                    }
                    track(&mut entries, file);
                } else {
                    change(Status::Kept, Some(Reason::NoBase), disk.clone());
                    entries.push(entry.clone());
                }
            }
            (None, None) => {
                change(Status::Added, None, Some(file.contents.clone()));
                track(&mut entries, file);
            }
            (None, Some(current)) if *current == file.contents => {
                change(Status::Unchanged, None, disk.clone());
                track(&mut entries, file);
            }
            (None, Some(_)) => change(Status::Kept, Some(Reason::Untracked), disk.clone()),
        }
    }

    for entry in old.files.iter().filter(|e| !new_paths.contains(&e.path)) {
        let disk = read_optional(&inside(root, &entry.path, root)?)?;
        let (status, reason, after) = match &disk {
            Some(current) if sha256(current) != entry.sha256 => (
                Status::Kept,
                Some(Reason::RemovedFromTemplates),
                disk.clone(),
            ),
            _ => (Status::Removed, None, None),
        };
        changes.push(Change {
            path: entry.path.clone(),
            status,
            reason,
            before: disk,
            after,
        });
        bases.push((entry.path.clone(), None));
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let lock = Lock {
        files: entries,
        ..fresh
    };
    Ok(Upgrade {
        root: root.clone(),
        name: old.inputs.name.clone(),
        from: old.templates,
        to: lock.templates.clone(),
        changes,
        lock,
        bases,
    })
}

impl Upgrade {
    /// The files in one status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.status == status)
    }

    /// Write the upgrade. Every new file is first written beside its destination; only when
    /// all of them are staged are they renamed into place (the service's files, then the bases,
    /// then `hale.lock` last), so a failure while writing leaves the service as it was.
    pub fn apply(&self) -> Result<(), ScaffoldError> {
        let mut staged = Vec::new();
        let mut deletes = Vec::new();
        for change in self.changes.iter().filter(|c| c.writes()) {
            let dest = inside(&self.root, &change.path, &self.root)?;
            match &change.after {
                Some(bytes) => staged.push(super::stage(&dest, bytes)?),
                None => deletes.push(dest),
            }
        }
        let base_root = self.root.join(BASE_DIR);
        for (path, contents) in &self.bases {
            let dest = inside(&base_root, path, &self.root)?;
            let current = read_optional(&dest)?;
            match contents {
                Some(bytes) if current.as_ref() != Some(bytes) => {
                    staged.push(super::stage(&dest, bytes)?)
                }
                None if current.is_some() => deletes.push(dest),
                _ => {}
            }
        }
        let lock_path = self.root.join(LOCK_FILE);
        let lock_text = self.lock.to_toml().into_bytes();
        if read_optional(&lock_path)?.as_ref() != Some(&lock_text) {
            staged.push(super::stage(&lock_path, &lock_text)?);
        }
        for file in staged {
            file.commit()?;
        }
        for path in deletes {
            match std::fs::remove_file(&path) {
                Ok(()) => remove_empty_parents(&path, &self.root),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ScaffoldError::Io {
                        action: "removing",
                        path,
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// `dir/entry` for a path from hale.lock, refused (exit 2) when it would lead out of `dir`
/// through a symbolic link (the lock's paths are already checked to be plain relative paths).
fn inside(dir: &Path, entry: &str, root: &Path) -> Result<PathBuf, ScaffoldError> {
    crate::confine::join(dir, entry, &root.join(LOCK_FILE))
        .map_err(|e| ScaffoldError::Lock(e.to_string()))
}

/// Remove the folders a deleted file leaves empty, up to (not including) `root`.
fn remove_empty_parents(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_on_different_lines_merge_cleanly() {
        let base = b"a\nb\nc\nd\ne\n";
        let ours = b"a\nB (mine)\nc\nd\ne\n";
        let theirs = b"a\nb\nc\nd\nE (template)\n";
        let merged = merge3(base, ours, theirs).unwrap();
        assert_eq!(merged, b"a\nB (mine)\nc\nd\nE (template)\n");
    }

    #[test]
    fn edits_on_the_same_line_conflict_with_git_markers() {
        let base = b"a\nb\nc\n";
        let ours = b"a\nmine\nc\n";
        let theirs = b"a\ntemplate\nc\n";
        let marked = String::from_utf8(merge3(base, ours, theirs).unwrap_err()).unwrap();
        assert_eq!(
            marked,
            "a\n<<<<<<< ours\nmine\n=======\ntemplate\n>>>>>>> theirs\nc\n"
        );
    }
}
