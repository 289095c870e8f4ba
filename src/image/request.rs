//! What `hale build` was asked for ([`BuildRequest`], the command's flags as plain values),
//! checked as a whole into a [`BuildPlan`] before anything is built or sent: names, tags,
//! platforms, `--push`/`--base` references, Dockerfile flags, the checkout's commit and time.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::BuildError;
use super::distribution::{check_ca_file, RegistryOptions};
use super::platform::Platform;
use super::reference::{self, Reference};
use super::BaseSource;
use crate::engine::EngineHost;
use crate::settings::Settings;

/// How to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// The Docker Engine when one with BuildKit answers and there is a Dockerfile, else native.
    Auto,
    /// No daemon: the host's Go toolchain and an image assembled by hale.
    Native,
    /// The Docker Engine (BuildKit) with the service's Dockerfile.
    Docker,
}

/// The flags of `hale build`, as given (docs/commands/build.md says what each means).
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub path: PathBuf,
    pub engine: EngineChoice,
    pub platform: Vec<String>,
    pub base: Option<String>,
    pub tag: Vec<String>,
    pub image_version: Option<String>,
    pub oci_layout: Option<PathBuf>,
    pub archive: Option<PathBuf>,
    pub load: bool,
    pub push: Option<String>,
    pub insecure_registry: Vec<String>,
    pub build_arg: Vec<String>,
    pub target: Option<String>,
    pub network: Option<String>,
    pub no_cache: bool,
    pub write_dockerfile: bool,
    pub registry_cacert: Option<PathBuf>,
}

/// Facts about the checkout: commit, commit time, exact tag, origin URL.
#[derive(Debug, Default, Clone)]
pub struct Checkout {
    pub revision: Option<String>,
    pub commit_time: Option<u64>,
    pub exact_tag: Option<String>,
    pub origin: Option<String>,
}

/// A build, checked: everything [`super::build::run`] needs.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub dir: PathBuf,
    pub name: String,
    pub port: u16,
    pub engine: EngineChoice,
    /// The engine the environment names (DOCKER_HOST, TLS, docker context).
    pub engine_host: EngineHost,
    pub platforms: Vec<Platform>,
    /// Whether `--platform` was given (the engine build then names it).
    pub platform_given: bool,
    pub version: String,
    pub revision: String,
    pub facts: Checkout,
    /// `<repository>:<version>` first, then the commit's and `--tag`s.
    pub tags: Vec<String>,
    pub push: Option<Reference>,
    pub base: BaseSource,
    pub base_given: bool,
    pub epoch: u64,
    /// `<service>/.hale/image`, absolute.
    pub out_dir: PathBuf,
    pub oci_dir: PathBuf,
    pub archive: Option<PathBuf>,
    pub load: bool,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub network: Option<String>,
    pub no_cache: bool,
    pub write_dockerfile: bool,
    pub registry: RegistryOptions,
    /// The Docker config folder (credentials).
    pub docker_config: PathBuf,
}

impl BuildPlan {
    /// Whether a flag only the Dockerfile build uses was given.
    pub fn engine_only_flags(&self) -> bool {
        !self.build_args.is_empty()
            || self.target.is_some()
            || self.no_cache
            || self.network.is_some()
    }

    pub fn dockerfile(&self) -> PathBuf {
        self.dir.join(super::context::DOCKERFILE)
    }
}

fn bad(message: String) -> BuildError {
    BuildError::BadInput(message)
}

/// Check `req` against the service's settings and the environment `env`.
pub fn plan(
    req: &BuildRequest,
    settings: &Settings,
    engine_host: EngineHost,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildPlan, BuildError> {
    let name = settings.name.clone().ok_or_else(|| {
        bad(format!(
            "no service name: {} has no hale.toml with `name` (run `hale build` in a folder made by `hale new`)",
            req.path.display()
        ))
    })?;
    let mut platforms = Vec::new();
    for p in &req.platform {
        let p: Platform = p.parse().map_err(|e| bad(format!("--platform: {e}")))?;
        if !platforms.contains(&p) {
            platforms.push(p);
        }
    }
    if platforms.is_empty() {
        platforms.push(Platform::host());
    }
    let repository = settings.image.repository.clone().unwrap_or(name.clone());
    repository
        .parse::<Reference>()
        .ok()
        .filter(|r| r.tag.is_none() && r.digest.is_none())
        .ok_or_else(|| bad(format!("hale.toml [image] repository {repository:?} is not an image name (lowercase path, no tag)")))?;
    let facts = checkout(&req.path);
    let version = req
        .image_version
        .clone()
        .or(settings.image.tag.clone())
        .or(facts
            .exact_tag
            .clone()
            .map(|t| t.trim_start_matches('v').to_string()))
        .unwrap_or_else(|| "dev".to_string());
    if !reference::tag_ok(&version) {
        return Err(bad(format!(
            "version {version:?} is not a valid image tag (letters, digits, `_`, `.`, `-`; at most 128)"
        )));
    }
    let revision = facts
        .revision
        .clone()
        .unwrap_or_else(|| "unknown".to_string());
    let tags = tags(&repository, &version, facts.revision.as_deref(), &req.tag)?;
    let push = match &req.push {
        Some(p) => Some(push_reference(p)?),
        None => None,
    };
    let base = parse_base(req.base.as_deref())?;
    if let Some(ca) = &req.registry_cacert {
        check_ca_file(ca).map_err(|e| bad(format!("--registry-cacert {e}")))?;
    }
    let registry = RegistryOptions {
        insecure: req.insecure_registry.clone(),
        cacert: req.registry_cacert.clone(),
        certs_dirs: RegistryOptions::docker_certs_dirs(
            env("HOME").as_deref(),
            env("XDG_CONFIG_HOME").as_deref(),
        ),
    };
    let epoch = epoch(facts.commit_time, env)?;
    // Absolute: `go build -o` runs in the service folder, so a relative PATH would land twice.
    let out_dir = std::path::absolute(req.path.join(".hale").join("image")).map_err(|source| {
        BuildError::Io {
            action: "resolving",
            path: req.path.clone(),
            source,
        }
    })?;
    let oci_dir = req
        .oci_layout
        .clone()
        .unwrap_or_else(|| out_dir.join("oci"));
    if req.load && req.archive.as_ref().is_some_and(|a| a.is_dir()) {
        return Err(bad("--archive names a folder: give a file path".into()));
    }
    let plan = BuildPlan {
        dir: req.path.clone(),
        name,
        port: settings.port,
        engine: req.engine,
        engine_host,
        platform_given: !req.platform.is_empty(),
        platforms,
        version,
        revision,
        facts,
        tags,
        push,
        base,
        base_given: req.base.is_some(),
        epoch,
        out_dir,
        oci_dir,
        archive: req.archive.clone(),
        load: req.load,
        build_args: parse_build_args(&req.build_arg)?,
        target: req.target.clone(),
        network: req.network.clone(),
        no_cache: req.no_cache,
        write_dockerfile: req.write_dockerfile,
        registry,
        docker_config: crate::engine::docker_config_dir(env),
    };
    check_engine_flags(&plan)?;
    Ok(plan)
}

/// `<repository>:<version>`, `<repository>:<short sha>` and every `--tag`, once each.
fn tags(
    repository: &str,
    version: &str,
    revision: Option<&str>,
    extra: &[String],
) -> Result<Vec<String>, BuildError> {
    let mut tags = vec![format!("{repository}:{version}")];
    if let Some(rev) = revision {
        tags.push(format!("{repository}:{}", &rev[..rev.len().min(12)]));
    }
    for t in extra {
        let full = if t.contains(':') || t.contains('/') {
            t.clone()
        } else {
            format!("{repository}:{t}")
        };
        let r: Reference = full.parse().map_err(|e| bad(format!("--tag: {e}")))?;
        if r.tag.is_none() {
            return Err(bad(format!(
                "--tag {t:?} has no tag part: use NAME:TAG or TAG"
            )));
        }
        if !tags.contains(&full) {
            tags.push(full);
        }
    }
    Ok(tags)
}

fn push_reference(p: &str) -> Result<Reference, BuildError> {
    let r: Reference = p.parse().map_err(|e| bad(format!("--push: {e}")))?;
    if r.registry.is_none() {
        return Err(bad(format!(
            "--push {p}: name the registry, e.g. 127.0.0.1:5000/{}",
            r.repository
        )));
    }
    if r.digest.is_some() {
        return Err(bad(format!(
            "--push {p}: push to a tag or a bare repository, not a digest"
        )));
    }
    Ok(r)
}

/// The Dockerfile flags, and what `--engine docker` cannot do.
fn check_engine_flags(plan: &BuildPlan) -> Result<(), BuildError> {
    if let Some(t) = &plan.target {
        if !stage_name_ok(t) {
            return Err(bad(format!(
                "--target {t:?} is not a Dockerfile stage name (letters, digits, `_`, `.`, `-`)"
            )));
        }
    }
    if let Some(n) = &plan.network {
        if !["default", "none", "host"].contains(&n.as_str()) {
            return Err(bad(format!("--network {n:?}: give default, none or host")));
        }
    }
    if plan.engine == EngineChoice::Native && plan.engine_only_flags() {
        return Err(bad(
            "--build-arg, --target, --network and --no-cache are for the Dockerfile build: use --engine docker (or auto)".into(),
        ));
    }
    if plan.engine == EngineChoice::Docker {
        if plan.platforms.len() > 1 {
            return Err(bad(
                "--engine docker builds one platform (the engine's image store holds one per image): use --engine native for a multi-platform index".into(),
            ));
        }
        if plan.base_given {
            return Err(bad(
                "--base is for the native build: on the engine path the Dockerfile names its base (the generated one takes --build-arg RUNTIME_IMAGE=…)".into(),
            ));
        }
        if !plan.write_dockerfile && !plan.dockerfile().is_file() {
            return Err(bad(format!(
                "{} has no Dockerfile: `hale build --write-dockerfile` writes the one `hale new` makes (and a .dockerignore if there is none), or build without one: --engine native",
                plan.dir.display()
            )));
        }
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn checkout(dir: &Path) -> Checkout {
    Checkout {
        revision: git(dir, &["rev-parse", "HEAD"]),
        commit_time: git(dir, &["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()),
        exact_tag: git(dir, &["describe", "--tags", "--exact-match"]),
        origin: git(dir, &["config", "--get", "remote.origin.url"]).map(|u| without_secrets(&u)),
    }
}

/// A remote URL with any user name and password removed: labels are public.
fn without_secrets(remote: &str) -> String {
    match url::Url::parse(remote) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        // scp-like `git@host:path` carries a user name but never a secret.
        _ => remote.to_string(),
    }
}

fn parse_base(base: Option<&str>) -> Result<BaseSource, BuildError> {
    let Some(b) = base else {
        return Ok(BaseSource::Hale);
    };
    let dir = PathBuf::from(b.strip_prefix("oci-layout:").unwrap_or(b));
    if dir.join("oci-layout").is_file() {
        return Ok(BaseSource::Layout(dir));
    }
    if b.starts_with("oci-layout:") {
        return Err(bad(format!(
            "--base {b}: {} is not an OCI image layout folder (no oci-layout file)",
            dir.display()
        )));
    }
    let r: Reference = b.parse().map_err(|e| bad(format!("--base: {e}")))?;
    if r.registry.is_none() {
        return Err(bad(format!(
            "--base {b}: name the registry (e.g. 127.0.0.1:5000/{}) or give an OCI layout folder",
            r.repository
        )));
    }
    Ok(BaseSource::Registry(r))
}

fn epoch(
    commit_time: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<u64, BuildError> {
    match env("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
        Some(v) => v.trim().parse().map_err(|_| {
            bad(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970"
            ))
        }),
        None => Ok(commit_time.unwrap_or(0)),
    }
}

/// `--build-arg KEY=VALUE` values, checked: the key is a Dockerfile ARG name.
fn parse_build_args(raw: &[String]) -> Result<BTreeMap<String, String>, BuildError> {
    let mut out = BTreeMap::new();
    for a in raw {
        let Some((k, v)) = a.split_once('=') else {
            return Err(bad(format!(
                "--build-arg {:?} has no `=`: give KEY=VALUE",
                a.chars().take(40).collect::<String>()
            )));
        };
        let key_ok = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            // The key only: the value may be a secret.
            return Err(bad(format!(
                "--build-arg {k:?}=…: the name must be letters, digits and `_`, not starting with a digit"
            )));
        }
        if v.contains('\n') || v.contains('\0') {
            return Err(bad(format!(
                "--build-arg {k}: the value holds a newline or NUL"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A Dockerfile stage name (`AS name`).
fn stage_name_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Does a build arg's name say it holds a secret? Its value is then never shown.
pub fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "KEY",
        "CREDENTIAL",
        "AUTH",
        "PRIVATE",
        "CERT",
    ]
    .iter()
    .any(|w| k.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_lose_their_credentials() {
        assert_eq!(
            without_secrets("https://user:tok@git.example/acme/o.git"),
            "https://git.example/acme/o.git"
        );
        assert_eq!(
            without_secrets("git@git.example:acme/o.git"),
            "git@git.example:acme/o.git"
        );
    }

    #[test]
    fn build_args_are_checked_without_showing_values() {
        let e = parse_build_args(&["1X=secret".into()]).unwrap_err();
        assert!(e.is_bad_input());
        assert!(!e.to_string().contains("secret"), "{e}");
        let ok = parse_build_args(&["A_B=c=d".into()]).unwrap();
        assert_eq!(ok["A_B"], "c=d");
    }

    #[test]
    fn tags_are_the_version_the_commit_and_extras_once_each() {
        let t = tags(
            "orders",
            "1.2.0",
            Some("0123456789abcdef"),
            &["edge".into(), "orders:1.2.0".into()],
        )
        .unwrap();
        assert_eq!(t, ["orders:1.2.0", "orders:0123456789ab", "orders:edge"]);
        assert!(tags("orders", "1", None, &["reg:5000/x".into()]).is_err());
    }
}
