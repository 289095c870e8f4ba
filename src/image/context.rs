//! The build context an engine receives: the service folder as a tar that honours its
//! `.dockerignore` the way the Docker CLI does. Entries are sorted and carry one fixed mtime and
//! uid/gid 0, so the same sources give the same context; symbolic links travel as links (never
//! followed out of the folder), and sockets, devices and pipes are left out. The Dockerfile and
//! `.dockerignore` are always sent, as the CLI does, even when the allowlist leaves them out
//! (the builder needs them; `COPY` does not see them).
use std::path::{Path, PathBuf};

use super::dockerignore::{Ignore, PatternError};

pub const DOCKERFILE: &str = "Dockerfile";
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Why the context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has a name that is not UTF-8; rename it or list it in .dockerignore", .0.display())]
    NotUtf8(PathBuf),
}

/// The tar and what went into it.
#[derive(Debug)]
pub struct BuildContext {
    pub tar: Vec<u8>,
    /// Files and links sent (folders not counted).
    pub files: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

enum Kind {
    Dir,
    File(u32),
    Link(PathBuf),
}

/// Walk `root`, keeping what `.dockerignore` lets through, as (relative path, kind).
fn collect(root: &Path, ignore: &Ignore) -> Result<Vec<(String, Kind)>, ContextError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let skip_excluded_dirs = !ignore.has_exceptions();
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| ContextError::NotUtf8(path.clone()))?;
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let always = rel == DOCKERFILE || rel == DOCKERIGNORE;
            let excluded = !always && ignore.excludes(&rel);
            let kind = meta.file_type();
            if kind.is_dir() {
                if !(excluded && skip_excluded_dirs) {
                    stack.push((path, rel.clone()));
                }
                if !excluded {
                    out.push((rel, Kind::Dir));
                }
            } else if excluded {
                continue;
            } else if kind.is_file() {
                out.push((rel, Kind::File(meta.permissions().mode() & 0o7777)));
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io(&path))?;
                out.push((rel, Kind::Link(target)));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The context of the service folder `root`, every mtime `mtime`.
pub fn build(root: &Path, mtime: u64) -> Result<BuildContext, ContextError> {
    let ignore_path = root.join(DOCKERIGNORE);
    let ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(text) => Ignore::parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => return Err(io(&ignore_path)(e)),
    };
    let entries = collect(root, &ignore)?;
    // Folders of files that were sent although their folder matched (a `!` re-include).
    let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (rel, kind) in &entries {
        if matches!(kind, Kind::Dir) {
            dirs.insert(rel.clone());
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut files = 0;
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for (rel, kind) in &entries {
        let path = root.join(rel);
        let sent_parent_missing = rel
            .rsplit_once('/')
            .is_some_and(|(parent, _)| !dirs.contains(parent));
        if sent_parent_missing {
            // Implied folders first, so the builder sees a normal tree.
            let mut acc = String::new();
            for part in rel.split('/').take(rel.split('/').count() - 1) {
                acc = if acc.is_empty() {
                    part.to_string()
                } else {
                    format!("{acc}/{part}")
                };
                if dirs.insert(acc.clone()) {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0);
                    tar.append_data(&mut h, format!("{acc}/"), std::io::empty())
                        .map_err(io(&path))?;
                }
            }
        }
        match kind {
            Kind::Dir => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, format!("{rel}/"), std::io::empty())
                    .map_err(io(&path))?;
            }
            Kind::File(mode) => {
                let data = std::fs::read(&path).map_err(io(&path))?;
                let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
                tar.append_data(&mut h, rel, data.as_slice())
                    .map_err(io(&path))?;
                files += 1;
            }
            Kind::Link(target) => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                tar.append_link(&mut h, rel, target).map_err(io(&path))?;
                files += 1;
            }
        }
    }
    let tar = tar.into_inner().map_err(io(root))?;
    Ok(BuildContext { tar, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn the_allowlist_keeps_secrets_and_local_state_out() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(
            d.join(DOCKERIGNORE),
            include_str!("../../templates/service/.dockerignore"),
        )
        .unwrap();
        std::fs::write(d.join(DOCKERFILE), "FROM scratch\n").unwrap();
        std::fs::write(d.join("go.mod"), "module x\n").unwrap();
        std::fs::write(d.join(".env"), "TOKEN=x\n").unwrap();
        std::fs::create_dir_all(d.join("cmd/x")).unwrap();
        std::fs::write(d.join("cmd/x/main.go"), "package main\n").unwrap();
        std::fs::write(d.join("cmd/x/main_test.go"), "package main\n").unwrap();
        std::fs::write(d.join("cmd/x/tls.key"), "k").unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join(".git/config"), "[core]").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("cmd/x/link")).unwrap();
        let ctx = build(d, 0).unwrap();
        assert_eq!(
            names(&ctx.tar),
            [
                ".dockerignore",
                "Dockerfile",
                "cmd/",
                "cmd/x/",
                "cmd/x/link",
                "cmd/x/main.go",
                "go.mod"
            ]
        );
        // The link travels as a link: its target is not read.
        let mut a = tar::Archive::new(ctx.tar.as_slice());
        let link = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("link"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(link.header().size().unwrap(), 0);
    }

    #[test]
    fn same_sources_give_the_same_context() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(DOCKERFILE), "FROM scratch\n").unwrap();
        std::fs::write(t.path().join("a"), "a").unwrap();
        assert_eq!(
            build(t.path(), 7).unwrap().tar,
            build(t.path(), 7).unwrap().tar
        );
    }
}
