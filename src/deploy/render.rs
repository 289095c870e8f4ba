//! `hale deploy --render` and `--check`: render the service's set and write it (or keep it in
//! memory), and gather the YAML files a check reads (the set just rendered, or a folder).
use std::path::{Path, PathBuf};

use kube::api::DynamicObject;

use super::DeployError;
use crate::manifests::logs::LogShipper;
use crate::manifests::{self, check, write, Rendered as RenderedSet, Spec};

/// Where the rendered set goes.
#[derive(Debug, Clone)]
pub enum RenderTo {
    /// Kept in memory: the caller prints the base objects (`--out -`).
    Memory,
    /// Written into a folder (temp + rename, refusing to clobber hand edits unless `force`).
    Folder { dir: PathBuf, force: bool },
}

/// A rendered set and, when it was written, what was written.
#[derive(Debug)]
pub struct RenderOutcome {
    pub spec: Spec,
    pub set: RenderedSet,
    pub written: Option<write::WriteReport>,
}

/// Render `spec` (with the objects that ship its logs, when asked) and write it where asked.
pub fn render(
    spec: Spec,
    logs: Option<LogShipper>,
    to: &RenderTo,
) -> Result<RenderOutcome, DeployError> {
    let set = manifests::logs::with_shipping(manifests::render(&spec)?, logs)?;
    let written = match to {
        RenderTo::Memory => None,
        RenderTo::Folder { dir, force } => Some(write::write(&set, dir, *force)?),
    };
    Ok(RenderOutcome { spec, set, written })
}

/// The base objects of a rendered set, as the apply layer takes them.
pub fn base_objects(set: &RenderedSet) -> Result<Vec<DynamicObject>, DeployError> {
    set.base_objects()
        .map(|f| {
            serde_norway::from_str::<DynamicObject>(&f.contents).map_err(|source| {
                DeployError::Rendered {
                    path: f.path.clone(),
                    source,
                }
            })
        })
        .collect()
}

/// The files `--check` reads: the YAML of the set just rendered, else `dir` (given, or
/// `<path>/deploy`).
pub fn files_to_check(
    rendered: Option<&RenderedSet>,
    dir: Option<&Path>,
    service_dir: &Path,
) -> Result<Vec<(String, String)>, DeployError> {
    match (dir, rendered) {
        (None, Some(set)) => Ok(set
            .files
            .iter()
            .filter(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
            .map(|f| (f.path.clone(), f.contents.clone()))
            .collect()),
        (None, None) => read_checked(&service_dir.join("deploy")),
        (Some(dir), _) => read_checked(dir),
    }
}

fn read_checked(dir: &Path) -> Result<Vec<(String, String)>, DeployError> {
    if !dir.is_dir() {
        return Err(DeployError::BadInput(format!(
            "{} is not a folder of manifests: render one with `hale deploy --render` or give \
             --check DIR",
            dir.display()
        )));
    }
    let files = check::read_dir(dir)?;
    if files.is_empty() {
        return Err(DeployError::BadInput(format!(
            "{} holds no .yaml or .yml files to check",
            dir.display()
        )));
    }
    Ok(files)
}

/// Lint `files`.
pub fn check(files: &[(String, String)]) -> Result<check::Report, DeployError> {
    Ok(check::check(files)?)
}
