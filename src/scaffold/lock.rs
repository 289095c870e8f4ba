//! `hale.lock`: the record at a service's root of what hale rendered into it, which
//! `hale upgrade` reads to tell the user's changes from the templates' (docs/commands/upgrade.md).
//!
//! It holds the inputs the service was rendered from (name, module), the template set's
//! version and digest, and per file the template it came from, that template's version and the
//! SHA-256 of what the template rendered. The rendered text itself is kept beside it, under
//! `.hale-base/`, as the common ancestor of a three-way merge. Both are meant to be committed.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{refuse, CiSystem, RenderedFile, ScaffoldError, SetIdentity, TemplateContext};

/// The lock's file name, at the service root.
pub const LOCK_FILE: &str = "hale.lock";

/// The folder, at the service root, holding what the templates rendered for each file.
pub const BASE_DIR: &str = ".hale-base";

/// The lock format this hale writes and reads.
pub const FORMAT: u32 = 1;

/// The whole lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The lock format; a newer one is refused.
    pub format: u32,
    pub templates: Templates,
    pub inputs: Inputs,
    /// One entry per file hale manages, sorted by path.
    #[serde(rename = "file", default)]
    pub files: Vec<LockedFile>,
}

/// The template set the files were last rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The set's declared version (`template-set.toml`).
    pub version: String,
    /// `sha256:` over every template's path and source.
    pub digest: String,
    /// The hale release that rendered them.
    pub hale: String,
}

/// What the user chose when the service was made; `hale upgrade` renders with the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub name: String,
    pub module: String,
    /// The CI pipeline `hale new --ci` chose; absent means the default (GitHub), so locks of
    /// services made before the option read the same.
    #[serde(default, skip_serializing_if = "CiSystem::is_default")]
    pub ci: CiSystem,
    /// The repository of hale's GitHub Action the workflow uses (`OWNER/REPO`); absent when
    /// the workflow installs hale from a release folder instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hale_action: Option<String>,
    /// Whether `hale new --grpc` added the gRPC API; absent means no.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grpc: bool,
}

/// One file hale rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedFile {
    /// Relative to the service root, `/`-separated.
    pub path: String,
    /// The template it was rendered from, relative to the set's root.
    pub template: String,
    /// The template's version: `sha256:` and 16 hex digits of the template's source.
    pub template_version: String,
    /// `sha256:` of what the template rendered (and hale wrote, unless a merge was written).
    pub sha256: String,
}

impl Lock {
    /// The lock for a fresh render.
    pub fn for_render(
        context: &TemplateContext,
        set: &SetIdentity,
        files: &[RenderedFile],
    ) -> Lock {
        let mut files: Vec<LockedFile> = files.iter().map(LockedFile::of).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Lock {
            format: FORMAT,
            templates: Templates {
                version: set.version.clone(),
                digest: set.digest.clone(),
                hale: context.hale_version.clone(),
            },
            inputs: Inputs {
                name: context.name.clone(),
                module: context.module.clone(),
                ci: context.ci,
                hale_action: Some(context.hale_action.clone()).filter(|a| !a.is_empty()),
                grpc: context.grpc,
            },
            files,
        }
    }

    /// The lock as committed: a header comment, then TOML.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Written by `hale new` and `hale upgrade`; commit it with {BASE_DIR}/.\n\
             # It records what the templates rendered, so `hale upgrade` updates only the files\n\
             # you have not changed. Do not edit it by hand.\n{body}"
        )
    }

    /// Read and check `ROOT/hale.lock`. Anything wrong with it is the user's to fix (exit 2):
    /// a missing lock, a format from a newer hale, or an entry that could reach outside the
    /// service.
    pub fn read(root: &Path) -> Result<Lock, ScaffoldError> {
        let path = root.join(LOCK_FILE);
        if !root.is_dir() {
            return Err(refuse!(
                Lock,
                "{} is not a folder; pass the folder of a service made by `hale new`",
                root.display()
            ));
        }
        let text = match crate::userfile::read_to_string(&path, crate::userfile::Limit::RECORD) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse!(
                    Lock,
                    "{} has no {LOCK_FILE}: `hale upgrade` works on services made by `hale new` \
                     (a service made before hale.lock existed can be re-created with \
                     `hale new --force` and its changes re-applied)",
                    root.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(refuse!(Lock, "{}: not UTF-8 text", path.display()))
            }
            Err(source) => {
                return Err(ScaffoldError::Io {
                    action: "reading",
                    path,
                    source,
                })
            }
        };
        #[derive(Deserialize)]
        struct Format {
            format: Option<u32>,
        }
        match toml::from_str::<Format>(&text) {
            Ok(Format { format: Some(f) }) if f > FORMAT => {
                return Err(refuse!(
                    Lock,
                    "{} has format {f}, written by a newer hale (this one reads format {FORMAT}): upgrade hale first",
                    path.display()
                ))
            }
            _ => {}
        }
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            refuse!(
                Lock,
                "{}{line}: {} (restore it from version control)",
                path.display(),
                e.message().split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })?;
        lock.check().map_err(|why| {
            refuse!(
                Lock,
                "{}: {why} (restore it from version control)",
                path.display()
            )
        })?;
        Ok(lock)
    }

    /// Refuse a lock hale would not have written: a bad name or module, a duplicate path, or
    /// a path that is absolute, climbs out with `..`, or names hale's own files.
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("unknown format {}", self.format));
        }
        super::validate_name(&self.inputs.name).map_err(|e| e.to_string())?;
        super::validate_module(&self.inputs.module).map_err(|e| e.to_string())?;
        let mut seen = BTreeSet::new();
        for file in &self.files {
            let path = relative_path(&file.path)
                .ok_or_else(|| format!("file path {:?} is not a plain relative path", file.path))?;
            if path == Path::new(LOCK_FILE) || path.starts_with(BASE_DIR) {
                return Err(format!("file path {:?} names hale's own files", file.path));
            }
            if !seen.insert(path) {
                return Err(format!("file path {:?} is listed twice", file.path));
            }
            if !file.sha256.starts_with("sha256:") {
                return Err(format!("file {:?} has no sha256 digest", file.path));
            }
        }
        Ok(())
    }

    pub fn entry(&self, path: &str) -> Option<&LockedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

impl LockedFile {
    pub fn of(file: &RenderedFile) -> LockedFile {
        LockedFile {
            path: slash_path(&file.path),
            template: file.template.clone(),
            template_version: file.template_version.clone(),
            sha256: super::sha256(&file.contents),
        }
    }
}

/// A path as the lock writes it: relative, `/`-separated.
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A lock path as a relative path of plain segments, or `None` when it is absolute, empty or
/// has `.`/`..` segments.
pub fn relative_path(path: &str) -> Option<PathBuf> {
    crate::confine::plain_relative(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_paths_must_stay_inside_the_service() {
        assert!(relative_path("cmd/orders/main.go").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "./a",
            "a//b",
            "a\\b",
            "a/",
        ] {
            assert!(relative_path(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_rendered_lock_reads_back_the_same() {
        let ctx = TemplateContext::new("orders", None);
        let (set, files) = super::super::render(&ctx, None).unwrap();
        let lock = Lock::for_render(&ctx, &set, &files);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), lock.to_toml()).unwrap();
        assert_eq!(Lock::read(dir.path()).unwrap(), lock);
    }

    #[test]
    fn a_lock_entry_outside_the_service_is_refused() {
        let ctx = TemplateContext::new("orders", None);
        let (set, files) = super::super::render(&ctx, None).unwrap();
        let mut lock = Lock::for_render(&ctx, &set, &files);
        lock.files[0].path = "../outside.go".into();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), lock.to_toml()).unwrap();
        let err = Lock::read(dir.path()).unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.to_string().contains("../outside.go"), "{err}");
    }
}
