//! Scaffolding: render a Go service from the tera templates under `templates/service/` (embedded
//! in the binary, or a user's own set) and write it to disk all at once or not at all.
//!
//! Template rules: a file whose name ends in `.tera` is rendered with [`TemplateContext`] and
//! loses the suffix; any other file is copied as-is. A path segment `_name_` becomes the service
//! name (`cmd/_name_/main.go.tera` → `cmd/orders/main.go`).
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use include_dir::{include_dir, Dir};
use serde::Serialize;

use crate::names::NameError;

/// Input `hale new` refuses: a name, module path, template folder or target the user gave.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(
        "invalid Go module path {0:?}: use slash-separated elements of letters, digits, '-', \
         '.', '_' or '~', such as example.com/team/orders"
    )]
    Module(String),
    /// A `--templates` folder that is missing, empty, or holds a template that does not
    /// parse or render (`FILE:LINE:COLUMN: message`).
    #[error("{0}")]
    Templates(String),
    /// A target that is a file, or a non-empty folder without `--force`.
    #[error("{0}")]
    Target(String),
}

macro_rules! refuse {
    ($variant:ident, $($arg:tt)*) => {
        ::anyhow::Error::new(ScaffoldError::$variant(format!($($arg)*)))
    };
}

/// The built-in service templates.
pub static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/service");

/// The Go release the generated Dockerfile builds with (`golang:<version>`), overridable there
/// by the GO_VERSION build argument.
pub const GO_VERSION: &str = "1.26";

/// What `hale new` was asked to do.
#[derive(Debug, Clone)]
pub struct NewOptions {
    pub name: String,
    /// Go module path; `example.com/<name>` when not given.
    pub module: Option<String>,
    /// Target folder; `./<name>` when not given.
    pub dir: Option<PathBuf>,
    pub force: bool,
    /// A folder holding a user's own template set instead of the built-in one.
    pub templates: Option<PathBuf>,
}

/// The values every template sees.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateContext {
    /// The service name, a DNS-1123 label: `orders`, `payment-gateway`.
    pub name: String,
    /// The Go module path: `example.com/orders`.
    pub module: String,
    /// A Go identifier form of the name, lowercase, no separators: `paymentgateway`.
    pub go_name: String,
    /// The example resource, plural and singular, as path segments: `orders` / `order`.
    pub resource_plural: String,
    pub resource_singular: String,
    /// The example resource's Go type name: `Order`, `PaymentGateway`.
    pub resource_type: String,
    /// The builder image's Go release.
    pub go_version: String,
    /// The hale version that generated the project.
    pub hale_version: String,
}

/// One file to write, relative to the project root.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// A fully rendered project, not yet on disk.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    pub context: TemplateContext,
    pub files: Vec<PlannedFile>,
}

/// Check a service name against the DNS-1123 label rule, spelling the rule out on failure.
pub fn validate_name(name: &str) -> Result<(), ScaffoldError> {
    Ok(crate::names::validate_service_name(name)?)
}

/// Check a Go module path: slash-separated elements of letters, digits and `-._~`, no `..`.
pub fn validate_module(module: &str) -> Result<(), ScaffoldError> {
    let ok = !module.is_empty()
        && module.len() <= 200
        && !module.starts_with('/')
        && !module.ends_with('/')
        && module.split('/').all(|el| {
            !el.is_empty()
                && el != "."
                && el != ".."
                && !el.starts_with('.')
                && el
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::Module(module.to_string()))
    }
}

impl TemplateContext {
    pub fn new(name: &str, module: Option<&str>) -> Self {
        let (plural, singular) = if let Some(stem) = name.strip_suffix('s') {
            (name.to_string(), stem.to_string())
        } else {
            (format!("{name}s"), name.to_string())
        };
        let resource_type = singular
            .split('-')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut cs = p.chars();
                cs.next()
                    .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>();
        // A Go type name must start with a letter; names are DNS labels, so it does, but a
        // singular like "s" (from "ss") still needs a body.
        let resource_type = if resource_type.is_empty() {
            "Item".to_string()
        } else {
            resource_type
        };
        TemplateContext {
            name: name.to_string(),
            module: module
                .map(str::to_string)
                .unwrap_or_else(|| format!("example.com/{name}")),
            go_name: name.replace('-', ""),
            resource_plural: plural,
            resource_singular: if singular.is_empty() {
                "item".into()
            } else {
                singular
            },
            resource_type,
            go_version: GO_VERSION.to_string(),
            hale_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A template source: its files as (relative path, bytes).
fn builtin_files() -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Dir<'_>, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for file in dir.files() {
            out.push((file.path().to_path_buf(), file.contents().to_vec()));
        }
        for sub in dir.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&BUILTIN, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn user_files(root: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let meta = std::fs::metadata(root).map_err(|e| {
        refuse!(
            Templates,
            "--templates {}: {e}; pass a folder written by `hale templates export`",
            root.display()
        )
    })?;
    if !meta.is_dir() {
        return Err(refuse!(
            Templates,
            "--templates {} is not a folder; pass a folder written by `hale templates export`",
            root.display()
        ));
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .expect("walked below root")
                    .to_path_buf();
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                out.push((rel, bytes));
            }
        }
    }
    if out.is_empty() {
        return Err(refuse!(
            Templates,
            "--templates {} holds no files; export the built-in set with `hale templates export DIR`",
            root.display()
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Turn tera's multi-line error chain into `LINE:COL: message`, or the chain on one line when
/// tera gives no position (a rendering error).
fn describe_tera_error(err: &tera::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    let full = parts.join("\n");
    let position = full.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("--> ")?;
        let (line, col) = rest.split_once(':')?;
        Some((line.trim().to_string(), col.trim().to_string()))
    });
    let detail = full
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("= ").map(str::to_string))
        .unwrap_or_else(|| {
            parts
                .iter()
                .map(|p| p.replace('\n', " "))
                .collect::<Vec<_>>()
                .join(": ")
        });
    match position {
        Some((line, col)) => format!("{line}:{col}: {detail}"),
        None => detail,
    }
}

/// Map a template path to its output path, refusing anything that could escape the project.
fn output_path(template: &Path, name: &str) -> anyhow::Result<(PathBuf, bool)> {
    let mut out = PathBuf::new();
    for comp in template.components() {
        match comp {
            Component::Normal(seg) => {
                let seg = seg.to_string_lossy();
                out.push(if seg == "_name_" { name } else { seg.as_ref() });
            }
            _ => {
                return Err(refuse!(
                    Templates,
                    "template path {} leaves the template folder",
                    template.display()
                ))
            }
        }
    }
    let is_template = out.extension().is_some_and(|e| e == "tera");
    if is_template {
        out.set_extension("");
    }
    Ok((out, is_template))
}

/// Render the whole project in memory. Nothing touches the disk here.
pub fn plan(opts: &NewOptions) -> anyhow::Result<Plan> {
    validate_name(&opts.name)?;
    if let Some(module) = &opts.module {
        validate_module(module)?;
    }
    let context = TemplateContext::new(&opts.name, opts.module.as_deref());
    let (files, origin) = match &opts.templates {
        Some(dir) => (user_files(dir)?, dir.display().to_string()),
        None => (builtin_files(), "templates/service".to_string()),
    };
    let tera_ctx = tera::Context::from_serialize(&context).context("building template context")?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    let mut planned = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        let (out, is_template) = output_path(&rel, &opts.name)?;
        let contents = if is_template {
            let shown = Path::new(&origin).join(&rel);
            let text = String::from_utf8(bytes).map_err(|_| {
                refuse!(
                    Templates,
                    "{}: a .tera template must be UTF-8 text",
                    shown.display()
                )
            })?;
            let key = rel.to_string_lossy().to_string();
            tera.add_raw_template(&key, &text).map_err(|e| {
                refuse!(Templates, "{}:{}", shown.display(), describe_tera_error(&e))
            })?;
            tera.render(&key, &tera_ctx)
                .map_err(|e| {
                    refuse!(
                        Templates,
                        "{}: {}",
                        shown.display(),
                        describe_tera_error(&e)
                    )
                })?
                .into_bytes()
        } else {
            bytes
        };
        planned.push(PlannedFile {
            path: out,
            contents,
        });
    }
    let root = opts
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&opts.name));
    Ok(Plan {
        root,
        context,
        files: planned,
    })
}

/// Whether a folder exists and holds anything.
fn non_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut it| it.next().is_some())
        .unwrap_or(false)
}

/// Refuse a target that is a file, or a non-empty folder without `force`: the checks
/// [`write_tree`] makes, for a dry run to report the same outcome without writing.
pub fn check_target(root: &Path, force: bool) -> anyhow::Result<()> {
    if root.exists() && !root.is_dir() {
        return Err(refuse!(
            Target,
            "{} exists and is not a folder; choose a new or empty folder",
            root.display()
        ));
    }
    if non_empty(root) && !force {
        return Err(refuse!(
            Target,
            "{} is not empty; choose a new or empty folder, or pass --force to overwrite the generated files in it",
            root.display()
        ));
    }
    Ok(())
}

/// Write a set of files under `root` without ever leaving a half-written folder: a new folder is
/// built beside the target and renamed into place; with `force`, an existing folder gets each
/// file replaced atomically (its other files are kept).
pub fn write_tree(root: &Path, files: &[PlannedFile], force: bool) -> anyhow::Result<()> {
    check_target(root, force)?;
    if non_empty(root) {
        for file in files {
            let dest = root.join(&file.path);
            let parent = dest.parent().expect("a file has a parent");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            let mut tmp = tempfile::NamedTempFile::new_in(parent)
                .with_context(|| format!("writing into {}", parent.display()))?;
            std::io::Write::write_all(&mut tmp, &file.contents)?;
            tmp.persist(&dest)
                .with_context(|| format!("writing {}", dest.display()))?;
        }
        return Ok(());
    }
    let parent = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".hale-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
    for file in files {
        let dest = staging.path().join(&file.path);
        std::fs::create_dir_all(dest.parent().expect("a file has a parent"))?;
        std::fs::write(&dest, &file.contents)
            .with_context(|| format!("writing {}", file.path.display()))?;
    }
    // An empty target folder is replaced; rename cannot replace a folder that has entries.
    if root.exists() {
        std::fs::remove_dir(root).with_context(|| format!("replacing {}", root.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, root) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the new project to {}", root.display()));
    }
    Ok(())
}

/// How `go mod tidy` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tidy {
    Ran,
    Skipped,
    NoGo,
}

/// Run `go mod tidy` in `root` when Go is on PATH.
pub fn tidy(root: &Path) -> anyhow::Result<Tidy> {
    let output = match Command::new("go")
        .args(["mod", "tidy"])
        .current_dir(root)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tidy::NoGo),
        Err(e) => return Err(e).context("running go mod tidy"),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        anyhow::bail!(
            "go mod tidy failed in {} ({first}); the project is written: fix the cause and run `go mod tidy` there",
            root.display()
        );
    }
    Ok(Tidy::Ran)
}

/// The built-in template set as files, for `hale templates export`.
pub fn builtin_set() -> Vec<PlannedFile> {
    builtin_files()
        .into_iter()
        .map(|(path, contents)| PlannedFile { path, contents })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_accepted() {
        for ok in ["orders", "a", "payment-gateway", "svc2", &"a".repeat(63)] {
            validate_name(ok).unwrap();
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_rule() {
        for bad in [
            "",
            "Orders",
            "2fa",
            "-x",
            "x-",
            "a_b",
            "a.b",
            "../x",
            &"a".repeat(64),
        ] {
            let err = validate_name(bad).unwrap_err();
            assert!(err.to_string().contains("DNS-1123"), "{bad}: {err}");
        }
    }

    #[test]
    fn context_derives_resource_names() {
        let c = TemplateContext::new("orders", None);
        assert_eq!(
            (c.resource_plural.as_str(), c.resource_singular.as_str()),
            ("orders", "order")
        );
        assert_eq!(c.resource_type, "Order");
        assert_eq!(c.module, "example.com/orders");
        let c = TemplateContext::new("payment-gateway", Some("git.example.org/pay/gw"));
        assert_eq!(c.resource_plural, "payment-gateways");
        assert_eq!(c.resource_type, "PaymentGateway");
        assert_eq!(c.go_name, "paymentgateway");
    }

    #[test]
    fn module_paths_are_checked() {
        validate_module("example.com/team/orders").unwrap();
        for bad in ["", "/abs", "a//b", "a/../b", "a b", "a/\"b"] {
            assert!(validate_module(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tera_parse_errors_carry_line_and_column() {
        let mut tera = tera::Tera::default();
        // tera reports where parsing stopped: inside line 2 for a stray token there (an
        // unclosed tag, by contrast, is reported at the end of the file).
        let err = tera
            .add_raw_template("x", "ok\n{{ name name }}\nmore\n")
            .unwrap_err();
        let msg = describe_tera_error(&err);
        assert!(msg.starts_with("2:"), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}
