//! Scaffolding: render a Go service from the tera templates under `templates/service/` (embedded
//! in the binary, or a user's own set) and write it to disk all at once or not at all.
//!
//! Template rules: a file whose name ends in `.tera` is rendered with [`TemplateContext`] and
//! loses the suffix; any other file is copied as-is. `_name_` in a path becomes the service
//! name (`cmd/_name_/main.go.tera` → `cmd/orders/main.go`).
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use include_dir::{include_dir, Dir};
use serde::Serialize;
use sha2::Digest as _;

use crate::names::NameError;

pub mod grpc;
pub mod lock;
pub mod upgrade;

/// What can go wrong while scaffolding. The first variants are the user's to fix (a name,
/// module path, template folder, target or `hale.lock` they gave: [`ScaffoldError::is_bad_input`]);
/// the others are operations that failed.
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
    /// A service folder without a `hale.lock`, or one hale cannot read or trust.
    #[error("{0}")]
    Lock(String),
    /// An action repository (`HALE_ACTION`) that is not `OWNER/REPO`.
    #[error("{0}")]
    Action(String),
    /// Reading or writing a file failed.
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `go mod tidy` could not start or failed.
    #[error("{0}")]
    Tidy(String),
}

impl ScaffoldError {
    /// Whether the user can fix this by changing what they gave (exit 2), rather than an
    /// operation that failed (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ScaffoldError::Name(_)
                | ScaffoldError::Module(_)
                | ScaffoldError::Templates(_)
                | ScaffoldError::Target(_)
                | ScaffoldError::Lock(_)
                | ScaffoldError::Action(_)
        )
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io {
            action,
            path,
            source,
        }
    }
}

macro_rules! refuse {
    ($variant:ident, $($arg:tt)*) => {
        $crate::scaffold::ScaffoldError::$variant(format!($($arg)*))
    };
}
use refuse;

/// The built-in service templates.
pub static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/service");

/// The Go release the generated Dockerfile builds with (`golang:<version>`), overridable there
/// by the GO_VERSION build argument.
pub const GO_VERSION: &str = "1.26";

/// The `toolchain` line of the generated go.mod: the newest patch release of [`GO_VERSION`]
/// this hale release was tested with (the test machine's `go version`), so a `go` command older
/// than it switches to it (`GOTOOLCHAIN=auto`) and builds carry the standard library's security
/// fixes. Raise it with each Go patch release the tests pass on; never to a `.0` release.
pub const GO_TOOLCHAIN: &str = "go1.26.8";

/// The repository whose `action.yml` installs hale in a GitHub workflow (`uses:
/// <this>@v<version>`), as the release build was told it (`scripts/release.sh` sets
/// `HALE_ACTION` from `--action`, `$GITHUB_REPOSITORY` or the checkout's GitHub remote). A
/// build that was not told has none: its workflows install hale from a release folder
/// (`vars.HALE_RELEASE_URL`) instead, unless `hale new` is given `HALE_ACTION`.
pub const BUILT_HALE_ACTION: Option<&str> = option_env!("HALE_ACTION");

/// Check an action repository, `OWNER/REPO` as GitHub spells them (an optional `/PATH` to
/// the folder holding `action.yml`): letters, digits, `-`, and `.`/`_` in the repository.
pub fn validate_action(action: &str) -> Result<(), ScaffoldError> {
    let mut parts = action.split('/');
    let owner = parts.next().unwrap_or("");
    let repo = parts.next().unwrap_or("");
    let owner_ok = !owner.is_empty()
        && owner.len() <= 39
        && !owner.starts_with('-')
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    if owner_ok && segment_ok(repo) && parts.all(segment_ok) {
        Ok(())
    } else {
        Err(refuse!(
            Action,
            "HALE_ACTION={action:?} is not a GitHub action repository: give OWNER/REPO, \
             such as acme/hale (the repository holding hale's action.yml)"
        ))
    }
}

/// The CI system a new service gets a pipeline for (`hale new --ci`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum CiSystem {
    /// `.github/workflows/ci.yml`
    #[default]
    Github,
    /// `.gitlab-ci.yml`
    Gitlab,
    /// No pipeline file.
    None,
}

impl CiSystem {
    pub fn is_default(&self) -> bool {
        *self == CiSystem::default()
    }
}

/// The file at a template set's root that names the set's version. It describes the set and is
/// not rendered into the service.
pub const SET_FILE: &str = "template-set.toml";

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
    /// The CI pipeline to write.
    pub ci: CiSystem,
    /// The repository of hale's GitHub Action for the workflow's `uses:`; `None` takes
    /// [`BUILT_HALE_ACTION`].
    pub hale_action: Option<String>,
    /// Add the gRPC API (`api/NAME/v1/NAME.proto`, its generated code, the gRPC server) beside
    /// the HTTP one, on the same port.
    pub grpc: bool,
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
    /// The name with `_` for `-`, as protoc-gen-go spells file variables: `payment_gateway`.
    pub snake_name: String,
    /// The example resource, plural and singular, as path segments: `orders` / `order`.
    pub resource_plural: String,
    pub resource_singular: String,
    /// The example resource's Go type name: `Order`, `PaymentGateway`.
    pub resource_type: String,
    /// The resource type with a lowercase first letter, as protoc-gen-go-grpc unexports it:
    /// `paymentGateway`.
    pub resource_var: String,
    /// The builder image's Go release.
    pub go_version: String,
    /// go.mod's `toolchain`: a patched Go release ([`GO_TOOLCHAIN`]).
    pub go_toolchain: String,
    /// The hale version that generated the project.
    pub hale_version: String,
    /// The CI system whose pipeline is written (`github`, `gitlab`, `none`): a template that
    /// renders to nothing but whitespace is not written, so pipeline files wrap themselves in
    /// `{% if ci == "github" %}`.
    pub ci: CiSystem,
    /// The repository of the composite action that installs hale in a GitHub workflow
    /// (`OWNER/REPO`); empty when none is known, and the workflow installs hale from
    /// `vars.HALE_RELEASE_URL` instead.
    pub hale_action: String,
    /// Whether the service also serves gRPC (`hale new --grpc`): the gRPC templates wrap
    /// themselves in `{% if grpc %}`.
    pub grpc: bool,
    /// protoc-gen-go's serialized descriptor of the rendered `.proto` (see [`grpc`]); empty
    /// without `grpc`.
    pub grpc_raw_desc: String,
}

/// One file to write, relative to the project root.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
}

/// One rendered service file and the template it came from.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    /// The template's path in its set, `/`-separated: `cmd/_name_/main.go.tera`.
    pub template: String,
    /// The template's own version: `sha256:` and the first 16 hex digits of its source. It
    /// changes exactly when that template changes.
    pub template_version: String,
}

/// A template set's identity, as `hale.lock` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetIdentity {
    /// The version `template-set.toml` declares (`unversioned` when the set has none).
    pub version: String,
    /// `sha256:` of every template's path and source, in path order.
    pub digest: String,
}

/// A fully rendered project, not yet on disk.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    pub context: TemplateContext,
    pub set: SetIdentity,
    pub files: Vec<RenderedFile>,
}

impl Plan {
    /// The lock that records this render.
    pub fn lock(&self) -> lock::Lock {
        lock::Lock::for_render(&self.context, &self.set, &self.files)
    }

    /// Everything `hale new` writes: the service's files, `hale.lock`, and the base copies
    /// under `.hale-base/` that a later `hale upgrade --merge` merges against.
    pub fn files_to_write(&self) -> Vec<PlannedFile> {
        let mut out: Vec<PlannedFile> = self
            .files
            .iter()
            .map(|f| PlannedFile {
                path: f.path.clone(),
                contents: f.contents.clone(),
            })
            .collect();
        out.extend(self.files.iter().map(|f| PlannedFile {
            path: Path::new(lock::BASE_DIR).join(&f.path),
            contents: f.contents.clone(),
        }));
        out.push(PlannedFile {
            path: PathBuf::from(lock::LOCK_FILE),
            contents: self.lock().to_toml().into_bytes(),
        });
        out
    }
}

/// `sha256:` and the hex digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
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
            snake_name: name.replace('-', "_"),
            resource_var: {
                let mut cs = resource_type.chars();
                cs.next()
                    .map(|c| c.to_ascii_lowercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            },
            resource_plural: plural,
            resource_singular: if singular.is_empty() {
                "item".into()
            } else {
                singular
            },
            resource_type,
            go_version: GO_VERSION.to_string(),
            go_toolchain: GO_TOOLCHAIN.to_string(),
            hale_version: env!("CARGO_PKG_VERSION").to_string(),
            ci: CiSystem::default(),
            hale_action: BUILT_HALE_ACTION
                .filter(|a| validate_action(a).is_ok())
                .unwrap_or_default()
                .to_string(),
            grpc: false,
            grpc_raw_desc: String::new(),
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

fn user_files(root: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, ScaffoldError> {
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
        for entry in std::fs::read_dir(&dir).map_err(ScaffoldError::io("reading", &dir))? {
            let entry = entry.map_err(ScaffoldError::io("reading", &dir))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(ScaffoldError::io("reading", &path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(root) else {
                    continue;
                };
                let rel = rel.to_path_buf();
                let bytes = std::fs::read(&path).map_err(ScaffoldError::io("reading", &path))?;
                out.push((rel, bytes));
            }
        }
    }
    if out.iter().all(|(rel, _)| rel == Path::new(SET_FILE)) {
        return Err(refuse!(
            Templates,
            "--templates {} holds no templates; export the built-in set with `hale templates export DIR`",
            root.display()
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The set's declared version, from `template-set.toml` (`version = "..."`).
fn set_version(files: &[(PathBuf, Vec<u8>)], origin: &str) -> Result<String, ScaffoldError> {
    #[derive(serde::Deserialize)]
    struct SetFile {
        version: String,
    }
    let Some((_, bytes)) = files.iter().find(|(rel, _)| rel == Path::new(SET_FILE)) else {
        return Ok("unversioned".to_string());
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| refuse!(Templates, "{origin}/{SET_FILE}: not UTF-8 text"))?;
    let parsed: SetFile = toml::from_str(text).map_err(|e| {
        refuse!(
            Templates,
            "{origin}/{SET_FILE}: {}; it holds one line such as version = \"3\"",
            e.message()
        )
    })?;
    let ok = !parsed.version.is_empty()
        && parsed.version.len() <= 64
        && parsed
            .version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._+".contains(c));
    if !ok {
        return Err(refuse!(
            Templates,
            "{origin}/{SET_FILE}: version {:?} must be letters, digits and '-._+'",
            parsed.version
        ));
    }
    Ok(parsed.version)
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

/// Map a template path to its output path, refusing anything that could escape the project
/// or collide with what hale keeps beside the service (`hale.lock`, `.hale-base/`).
fn output_path(template: &Path, name: &str) -> Result<(PathBuf, bool), ScaffoldError> {
    let mut out = PathBuf::new();
    for comp in template.components() {
        match comp {
            Component::Normal(seg) => {
                let seg = seg.to_string_lossy();
                // `_name_` anywhere in a segment: `api/_name_/v1/_name_.proto.tera`.
                out.push(seg.replace("_name_", name));
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
    if out == Path::new(lock::LOCK_FILE) || out.starts_with(lock::BASE_DIR) {
        return Err(refuse!(
            Templates,
            "template {} would overwrite {}, which hale keeps for `hale upgrade`; rename it",
            template.display(),
            out.display()
        ));
    }
    Ok((out, is_template))
}

/// Where a template set comes from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Builtin,
    Folder(&'a Path),
}

/// Render a template set for a name and module, in memory. Nothing touches the disk here
/// except reading a `--templates` folder.
pub fn render(
    context: &TemplateContext,
    templates: Option<&Path>,
) -> Result<(SetIdentity, Vec<RenderedFile>), ScaffoldError> {
    let source = templates.map_or(Source::Builtin, Source::Folder);
    let (files, origin) = match source {
        Source::Folder(dir) => (user_files(dir)?, dir.display().to_string()),
        Source::Builtin => (builtin_files(), "templates/service".to_string()),
    };
    let version = set_version(&files, &origin)?;
    let mut set_hash = sha2::Sha256::new();
    for (rel, bytes) in &files {
        let key = rel.to_string_lossy().replace('\\', "/");
        set_hash.update((key.len() as u64).to_le_bytes());
        set_hash.update(key.as_bytes());
        set_hash.update((bytes.len() as u64).to_le_bytes());
        set_hash.update(bytes);
    }
    let set = SetIdentity {
        version,
        digest: format!("sha256:{}", hex::encode(set_hash.finalize())),
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    let mut context = context.clone();
    if context.grpc {
        context.grpc_raw_desc = grpc_raw_desc(&mut tera, &context, &files, &origin)?;
    }
    let tera_ctx = tera::Context::from_serialize(&context)
        .map_err(|e| refuse!(Templates, "building the template context: {e}"))?;
    let mut rendered = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        if rel == Path::new(SET_FILE) {
            continue;
        }
        let (out, is_template) = output_path(&rel, &context.name)?;
        let key = rel.to_string_lossy().replace('\\', "/");
        let template_version = sha256(&bytes)[..7 + 16].to_string();
        let contents = if is_template {
            let shown = Path::new(&origin).join(&rel);
            let text = String::from_utf8(bytes).map_err(|_| {
                refuse!(
                    Templates,
                    "{}: a .tera template must be UTF-8 text",
                    shown.display()
                )
            })?;
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
        // A template that renders to nothing is not wanted for these inputs (a pipeline file
        // for another CI system).
        if is_template && contents.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rendered.push(RenderedFile {
            path: out,
            contents,
            template: key,
            template_version,
        });
    }
    rendered.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((set, rendered))
}

/// The gRPC variant's descriptor: the set's `.proto` template rendered on its own first, since
/// the generated Go code embeds what it compiles to.
fn grpc_raw_desc(
    tera: &mut tera::Tera,
    context: &TemplateContext,
    files: &[(PathBuf, Vec<u8>)],
    origin: &str,
) -> Result<String, ScaffoldError> {
    let Some((_, bytes)) = files
        .iter()
        .find(|(rel, _)| rel == Path::new(grpc::PROTO_TEMPLATE))
    else {
        return Err(refuse!(
            Templates,
            "{origin} has no {} for the gRPC service",
            grpc::PROTO_TEMPLATE
        ));
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| refuse!(Templates, "{origin}/{}: not UTF-8", grpc::PROTO_TEMPLATE))?;
    let ctx = tera::Context::from_serialize(context)
        .map_err(|e| refuse!(Templates, "building the template context: {e}"))?;
    let source = tera.render_str(text, &ctx).map_err(|e| {
        refuse!(
            Templates,
            "{origin}/{}: {}",
            grpc::PROTO_TEMPLATE,
            describe_tera_error(&e)
        )
    })?;
    let descriptor = grpc::file_descriptor(&grpc::proto_path(&context.name), &source)?;
    Ok(grpc::go_raw_descriptor(&descriptor))
}

/// Render the whole project in memory. Nothing touches the disk here.
pub fn plan(opts: &NewOptions) -> Result<Plan, ScaffoldError> {
    validate_name(&opts.name)?;
    if let Some(module) = &opts.module {
        validate_module(module)?;
    }
    let mut context = TemplateContext::new(&opts.name, opts.module.as_deref());
    context.ci = opts.ci;
    context.grpc = opts.grpc;
    if let Some(action) = &opts.hale_action {
        validate_action(action)?;
        context.hale_action = action.clone();
    }
    let (set, files) = render(&context, opts.templates.as_deref())?;
    let root = opts
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&opts.name));
    Ok(Plan {
        root,
        context,
        set,
        files,
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
pub fn check_target(root: &Path, force: bool) -> Result<(), ScaffoldError> {
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

/// Replace one file atomically: write a temporary file beside it, then rename it over.
pub fn write_atomic(dest: &Path, contents: &[u8]) -> Result<(), ScaffoldError> {
    stage(dest, contents)?.commit()
}

/// A file written beside its destination, not yet renamed over it.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    /// Rename the staged file over its destination.
    pub fn commit(self) -> Result<(), ScaffoldError> {
        let dest = self.dest;
        self.tmp
            .persist(&dest)
            .map_err(|e| ScaffoldError::Io {
                action: "writing",
                path: dest,
                source: e.error,
            })
            .map(drop)
    }
}

/// Write `contents` to a temporary file in `dest`'s folder (created when missing), to be
/// renamed over `dest` by [`Staged::commit`]. Dropping it removes the temporary file.
pub fn stage(dest: &Path, contents: &[u8]) -> Result<Staged, ScaffoldError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::userfile::create_dir_all(&parent).map_err(ScaffoldError::io("creating", &parent))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".hale-tmp-")
        .tempfile_in(&parent)
        .map_err(ScaffoldError::io("writing into", &parent))?;
    std::io::Write::write_all(&mut tmp, contents).map_err(ScaffoldError::io("writing", dest))?;
    // A temporary file is 0600: the file it replaces keeps its own mode (an executable script
    // stays executable, a 0644 file stays readable), and a new one gets 0644 as `hale new`
    // writes them.
    let mode = std::fs::symlink_metadata(dest)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0o644, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777
        });
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(ScaffoldError::io("writing", dest))?;
    Ok(Staged {
        tmp,
        dest: dest.to_path_buf(),
    })
}

/// Write a set of files under `root` without ever leaving a half-written folder: a new folder is
/// built beside the target and renamed into place; with `force`, an existing folder gets each
/// file replaced atomically (its other files are kept).
pub fn write_tree(root: &Path, files: &[PlannedFile], force: bool) -> Result<(), ScaffoldError> {
    check_target(root, force)?;
    if non_empty(root) {
        let staged = files
            .iter()
            .map(|file| stage(&root.join(&file.path), &file.contents))
            .collect::<Result<Vec<_>, _>>()?;
        for file in staged {
            file.commit()?;
        }
        return Ok(());
    }
    let parent = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    crate::userfile::create_dir_all(&parent).map_err(ScaffoldError::io("creating", &parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".hale-new-")
        .tempdir_in(&parent)
        .map_err(ScaffoldError::io("creating a staging folder in", &parent))?;
    for file in files {
        let dest = staging.path().join(&file.path);
        if let Some(dir) = dest.parent() {
            crate::userfile::create_dir_all(dir).map_err(ScaffoldError::io("creating", dir))?;
        }
        std::fs::write(&dest, &file.contents).map_err(ScaffoldError::io("writing", &file.path))?;
    }
    // An empty target folder is replaced; rename cannot replace a folder that has entries.
    if root.exists() {
        std::fs::remove_dir(root).map_err(ScaffoldError::io("replacing", root))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, root) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(ScaffoldError::Io {
            action: "moving the new project to",
            path: root.to_path_buf(),
            source: e,
        });
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
pub fn tidy(root: &Path) -> Result<Tidy, ScaffoldError> {
    let output = match Command::new("go")
        .args(["mod", "tidy"])
        .current_dir(root)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tidy::NoGo),
        Err(e) => return Err(ScaffoldError::Tidy(format!("running go mod tidy: {e}"))),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(ScaffoldError::Tidy(format!(
            "go mod tidy failed in {} ({first}); the project is written: fix the cause and run `go mod tidy` there",
            root.display()
        )));
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

    /// `hale upgrade` (and every other replace) goes through `stage`: a replaced file keeps
    /// its mode (it turned 0644 into 0600 before), a new one is 0644.
    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_one_is_0644() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        for m in [0o644, 0o755, 0o600] {
            let f = dir.path().join(format!("f{m:o}"));
            std::fs::write(&f, "old").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(m)).unwrap();
            write_atomic(&f, b"new").unwrap();
            assert_eq!(mode(&f), m);
            assert_eq!(std::fs::read(&f).unwrap(), b"new");
        }
        let fresh = dir.path().join("sub/new.txt");
        write_atomic(&fresh, b"x").unwrap();
        assert_eq!(mode(&fresh), 0o644);
    }

    /// The built-in set's declared version and the digest of its templates (every file but
    /// `template-set.toml`) when that version was recorded.
    const RECORDED_SET: (&str, &str) = (
        "3",
        "sha256:967b7635e8bea8000f4202f318eed737cb6c350d2c2ce1d21162a45fca1db268",
    );

    #[test]
    fn the_builtin_templates_change_only_with_a_new_set_version() {
        let files = builtin_files();
        let version = set_version(&files, "templates/service").unwrap();
        let mut hash = sha2::Sha256::new();
        for (rel, bytes) in files.iter().filter(|(rel, _)| rel != Path::new(SET_FILE)) {
            let key = rel.to_string_lossy().replace('\\', "/");
            hash.update((key.len() as u64).to_le_bytes());
            hash.update(key.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let digest = format!("sha256:{}", hex::encode(hash.finalize()));
        assert_eq!(
            (version.as_str(), digest.as_str()),
            RECORDED_SET,
            "the built-in templates changed, but templates/service/template-set.toml still \
             declares version {v}, which names other templates in the hale.lock of services \
             made with it. If version {v} reached a release, bump the version; then set \
             RECORDED_SET to (the version, {digest:?})",
            v = RECORDED_SET.0,
        );
    }

    #[test]
    fn the_toolchain_is_a_patched_release_of_the_go_version() {
        let patch = GO_TOOLCHAIN
            .strip_prefix(&format!("go{GO_VERSION}."))
            .and_then(|p| p.parse::<u32>().ok());
        assert!(
            patch.is_some_and(|p| p >= 1),
            "GO_TOOLCHAIN {GO_TOOLCHAIN} is not a patch release of Go {GO_VERSION}"
        );
        let plan = render_context_go_mod();
        assert!(
            plan.contains(&format!("\ntoolchain {GO_TOOLCHAIN}\n")),
            "go.mod states the toolchain:\n{plan}"
        );
    }

    /// The built-in go.mod rendered for `orders`.
    fn render_context_go_mod() -> String {
        let ctx = TemplateContext::new("orders", None);
        let mut tera = tera::Tera::default();
        let text = std::str::from_utf8(
            BUILTIN
                .get_file("go.mod.tera")
                .expect("the set has go.mod.tera")
                .contents(),
        )
        .unwrap();
        tera.add_raw_template("go.mod", text).unwrap();
        tera.render("go.mod", &tera::Context::from_serialize(&ctx).unwrap())
            .unwrap()
    }

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
