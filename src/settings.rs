//! Settings resolved once, before any I/O: flags > `HALE_*` environment > `hale.toml` > defaults.
//!
//! Commands turn their flags into [`Overrides`], call [`resolve`], and hand the resulting
//! [`Settings`] to the domain modules. Nothing below the commands reads the environment.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The name of the per-service settings file.
pub const FILE_NAME: &str = "hale.toml";

/// `hale.toml` as written on disk. Unknown keys are refused so a typo never goes unnoticed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The service name (a DNS-1123 label).
    pub name: Option<String>,
    /// The port the service listens on inside its container or pod.
    pub port: Option<u16>,
    /// The registry URL: consul://host:port, etcd://host:port or file://PATH.
    pub registry: Option<String>,
    #[serde(default)]
    pub image: ImageConfig,
    #[serde(default)]
    pub deploy: DeployConfig,
}

/// `[image]` in hale.toml: `repository` and `tag` name `hale build`'s image; `builder` and
/// `runtime` wait for the engine path.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub builder: Option<String>,
    pub runtime: Option<String>,
}

/// `[deploy]` in hale.toml: read now, used by `hale deploy` when it lands.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The HPA's maximum; setting it makes an HPA own scaling (`replicas` is its minimum).
    pub max_replicas: Option<u32>,
    /// CPU request, a Kubernetes quantity such as `100m`.
    pub cpu: Option<String>,
    /// Memory request, such as `64Mi`.
    pub memory: Option<String>,
    /// Memory limit (GOMEMLIMIT follows it), such as `128Mi`.
    pub memory_limit: Option<String>,
    /// Service level objectives, as `--slo` takes them.
    #[serde(default)]
    pub slo: Vec<String>,
    /// Services this one calls (NetworkPolicy egress, dashboard breaker panel).
    #[serde(default)]
    pub downstreams: Vec<String>,
    /// Render a NetworkPolicy.
    pub network_policy: Option<bool>,
    /// Where the alerts' `runbook_url` links point: a URL (or path) of the folder holding the
    /// service's RUNBOOK.md; unset, the links are relative to the service's repository.
    pub runbook_base_url: Option<String>,
    /// `[deploy.canary]`: the analysis of `hale deploy --canary` (its flags override these).
    #[serde(default)]
    pub canary: CanaryConfig,
}

/// `[deploy.canary]` in hale.toml: each key as the `--canary-*` flag of the same name takes it
/// (durations as `30s`, `1m`); unset keys take Flagger's defaults (docs/commands/deploy-canary.md).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Weight added per step, in percent.
    pub step_weight: Option<u32>,
    /// The last weight before promotion, in percent.
    pub max_weight: Option<u32>,
    /// Time between checks.
    pub interval: Option<String>,
    /// Failed checks before the canary is rolled back.
    pub threshold: Option<u32>,
    /// The window each check measures over.
    pub window: Option<String>,
    /// The Prometheus HTTP API the gates query.
    pub prometheus: Option<String>,
    /// The minimum request success rate of the canary, in percent.
    pub success_rate: Option<f64>,
    /// The maximum p99 latency of the canary, such as `500ms`.
    pub p99: Option<String>,
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub registry: Option<String>,
}

/// Where a resolved value came from, for `-v` and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub name: Option<String>,
    pub port: u16,
    pub registry: String,
    pub registry_source: Source,
    pub image: ImageConfig,
    pub deploy: DeployConfig,
    /// The hale.toml that was read, if any.
    pub file: Option<PathBuf>,
}

/// The default service port.
pub const DEFAULT_PORT: u16 = 8080;

/// hale's own state folder: `$HALE_STATE_DIR`, else `$XDG_STATE_HOME/hale`, else
/// `~/.local/state/hale`.
pub fn state_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = env("HALE_STATE_DIR").filter(|s| !s.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = env("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Path::new(&dir).join("hale");
    }
    let home = env("HOME").unwrap_or_else(|| "/tmp".into());
    Path::new(&home).join(".local/state/hale")
}

/// The embedded registry every command uses when none is configured: a file in hale's state
/// folder, so `hale up` and `hale discover` agree without any server.
pub fn default_registry(env: &dyn Fn(&str) -> Option<String>) -> String {
    format!("file://{}", state_dir(env).join("registry.json").display())
}

/// Read `dir/hale.toml` if present. A malformed file is a usage error naming file, line and column.
pub fn read_file(dir: &Path) -> Result<Option<(PathBuf, ConfigFile)>, SettingsError> {
    let path = dir.join(FILE_NAME);
    let text = match crate::userfile::read_to_string(&path, crate::userfile::Limit::CONFIG) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SettingsError::Read { path, source }),
    };
    let file = parse(&text).map_err(|e| SettingsError::File {
        path: path.clone(),
        detail: e.0,
    })?;
    if let Some(name) = &file.name {
        crate::names::validate_service_name(name).map_err(|e| SettingsError::File {
            path: path.clone(),
            detail: format!(" name: {e}"),
        })?;
    }
    // The same checks as the flags that give these values (`crate::values`).
    let field = |key: &str, e: String| SettingsError::File {
        path: path.clone(),
        detail: format!(" {key}: {e}"),
    };
    if let Some(registry) = &file.registry {
        crate::values::registry_url(registry).map_err(|e| field("registry", e))?;
    }
    if file.deploy.max_replicas == Some(0) {
        return Err(field(
            "[deploy] max_replicas",
            "0 is not allowed: give a whole number of at least 1".into(),
        ));
    }
    Ok(Some((path, file)))
}

/// Settings hale cannot resolve: a malformed hale.toml or environment value (the user's to
/// fix, [`SettingsError::is_bad_input`]), or a hale.toml that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}:{detail}", path.display())]
    File { path: PathBuf, detail: String },
    #[error("HALE_PORT={0:?} is not a port number (1-65535)")]
    Port(String),
    #[error("port 0 is not allowed: pick a port from 1 to 65535")]
    PortZero,
    #[error("{key}: {detail}")]
    Env { key: &'static str, detail: String },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SettingsError {
    /// Whether the user can fix it by editing a value (exit 2), not a read that failed.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, SettingsError::Read { .. })
    }
}

/// Why hale.toml text does not parse: `LINE:COLUMN: message`, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A duration hale cannot read, with the forms it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration ({why}); use forms like 500ms, 10s, 2m")]
pub struct DurationError {
    pub text: String,
    pub why: String,
}

/// Parse hale.toml text. The error is `LINE:COLUMN: message`, one line.
pub fn parse(text: &str) -> Result<ConfigFile, ParseError> {
    toml::from_str::<ConfigFile>(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        let message = e.message().replace('\n', " ");
        ParseError(format!(
            "{line}:{col}: {message} (fix hale.toml and run again)"
        ))
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Resolve settings for a service rooted at `dir`.
pub fn resolve(
    dir: &Path,
    flags: Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, SettingsError> {
    let (file_path, file) = match read_file(dir)? {
        Some((path, file)) => (Some(path), file),
        None => (None, ConfigFile::default()),
    };
    let env_nonempty = |key: &str| env(key).filter(|v| !v.is_empty());

    let env_port = match env_nonempty("HALE_PORT") {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| SettingsError::Port(p.clone()))?,
        ),
        None => None,
    };
    let port = flags
        .port
        .or(env_port)
        .or(file.port)
        .unwrap_or(DEFAULT_PORT);
    if port == 0 {
        return Err(SettingsError::PortZero);
    }

    let (registry, registry_source) = if let Some(r) = flags.registry {
        (r, Source::Flag)
    } else if let Some(r) = env_nonempty("HALE_REGISTRY") {
        crate::values::registry_url(&r).map_err(|detail| SettingsError::Env {
            key: "HALE_REGISTRY",
            detail,
        })?;
        (r, Source::Env)
    } else if let Some(r) = file.registry.clone() {
        (r, Source::File)
    } else {
        (default_registry(env), Source::Default)
    };

    Ok(Settings {
        name: flags.name.or(env_nonempty("HALE_NAME")).or(file.name),
        port,
        registry,
        registry_source,
        image: file.image,
        deploy: file.deploy,
        file: file_path,
    })
}

/// The process environment, as the `env` argument of [`resolve`].
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Parse a human duration (`10s`, `250ms`, `1m30s`) with a message that says what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text).map_err(|e| DurationError {
        text: text.to_string(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "name = \"orders\"\nport = 9000\nregistry = \"consul://127.0.0.1:8500\"\n",
        )
        .unwrap();
        let env = env_of(&[("HALE_PORT", "9100"), ("HOME", "/home/u")]);
        let s = resolve(dir.path(), Overrides::default(), &env).unwrap();
        assert_eq!(s.port, 9100);
        assert_eq!(s.registry, "consul://127.0.0.1:8500");
        assert_eq!(s.registry_source, Source::File);
        assert_eq!(s.name.as_deref(), Some("orders"));

        let flags = Overrides {
            port: Some(9200),
            registry: Some("etcd://127.0.0.1:2379".into()),
            ..Default::default()
        };
        let s = resolve(dir.path(), flags, &env).unwrap();
        assert_eq!(s.port, 9200);
        assert_eq!(s.registry_source, Source::Flag);
    }

    #[test]
    fn defaults_use_embedded_file_registry() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[("HOME", "/home/u")]);
        let s = resolve(dir.path(), Overrides::default(), &env).unwrap();
        assert_eq!(s.port, DEFAULT_PORT);
        assert_eq!(s.registry, "file:///home/u/.local/state/hale/registry.json");
        assert_eq!(s.registry_source, Source::Default);
    }

    #[test]
    fn malformed_file_names_line_and_column() {
        let err = parse("name = \"orders\"\nport = \"eighty\"\n").unwrap_err();
        assert!(err.0.starts_with("2:8:"), "{err}");
        let err = parse("name = \"x\"\nbogus = 1\n").unwrap_err();
        assert!(
            err.0.starts_with("2:1:") && err.0.contains("bogus"),
            "{err}"
        );
    }

    #[test]
    fn a_name_in_hale_toml_is_a_dns_label() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "name = \"Orders\"\n").unwrap();
        let err: anyhow::Error = resolve(dir.path(), Overrides::default(), &env_of(&[]))
            .unwrap_err()
            .into();
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
        assert!(format!("{err:#}").contains("DNS-1123"), "{err:#}");
    }

    #[test]
    fn bad_env_port_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[("HALE_PORT", "http")]);
        let err: anyhow::Error = resolve(dir.path(), Overrides::default(), &env)
            .unwrap_err()
            .into();
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
    }

    #[test]
    fn a_folder_where_hale_toml_should_be_is_refused_as_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        // Not a regular file: refused before any read (userfile), the user's to fix.
        std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let err: anyhow::Error = resolve(dir.path(), Overrides::default(), &env_of(&[]))
            .unwrap_err()
            .into();
        assert!(matches!(
            err.downcast_ref::<SettingsError>(),
            Some(SettingsError::Read { .. })
        ));
        assert_eq!(crate::exit::classify(&err), crate::exit::Exit::Usage);
        assert!(
            format!("{err:#}").contains("is a folder, not a regular file"),
            "{err:#}"
        );
    }
}
