//! The host's Go toolchain, as ko uses it: a static cross-compile per platform
//! (`CGO_ENABLED=0`, `-trimpath`, `-tags timetzdata`) and `go version -m` for the SBOM.
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::platform::Platform;
use super::ImageError;
use crate::gotool::GoRunError;
use crate::stop::Stop;

/// What `go build` needs beyond the platform.
#[derive(Debug, Clone)]
pub struct GoBuild<'a> {
    /// The module folder.
    pub dir: &'a Path,
    /// The main package, e.g. `./cmd/orders`.
    pub package: &'a str,
    pub version: &'a str,
    pub revision: &'a str,
}

/// Is a Go toolchain on PATH?
pub async fn available() -> bool {
    tokio::process::Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Build the binary for `platform` into `out`, through [`crate::gotool::run`] with its work
/// folder beside `out`: an interrupted build leaves no process and no temporary folder.
pub async fn build(
    spec: &GoBuild<'_>,
    platform: &Platform,
    out: &Path,
    stop: &Stop,
) -> Result<(), ImageError> {
    let ldflags = format!(
        "-s -w -X main.version={} -X main.revision={}",
        spec.version, spec.revision
    );
    let work_parent = out.parent().unwrap_or(Path::new("."));
    let mut cmd = tokio::process::Command::new("go");
    cmd.arg("build");
    if spec.dir.join("vendor").is_dir() {
        cmd.arg("-mod=vendor");
    }
    cmd.args([
        "-trimpath",
        "-tags",
        "timetzdata",
        "-ldflags",
        &ldflags,
        "-o",
    ])
    .arg(out)
    .arg(spec.package)
    .current_dir(spec.dir)
    .env("CGO_ENABLED", "0")
    .env_remove("GOARM")
    .env_remove("GOAMD64")
    .envs(platform.go_env());
    let output = match crate::gotool::run(&mut cmd, work_parent, stop).await {
        Ok(Some(output)) => output,
        Ok(None) => return Err(ImageError::Interrupted),
        Err(GoRunError::Go(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImageError::NoGo)
        }
        Err(GoRunError::Go(source)) => {
            return Err(ImageError::Io {
                path: PathBuf::from("go"),
                source,
            })
        }
        Err(GoRunError::WorkFolder(source)) => {
            return Err(ImageError::Io {
                path: work_parent.to_path_buf(),
                source,
            })
        }
    };
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        return Err(ImageError::GoBuild {
            platform: platform.to_string(),
            output: tail(&text, 20),
        });
    }
    Ok(())
}

/// The last `n` lines of a tool's output.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A Go module as the binary's build information records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// The go.sum hash (`h1:...`), when recorded.
    pub sum: Option<String>,
}

/// `go version -m`: toolchain, main package and module, dependencies, build settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    pub go_version: String,
    pub package: String,
    pub main: Option<Module>,
    pub deps: Vec<Module>,
    pub settings: Vec<(String, String)>,
}

/// Read the build information of a Go binary.
pub async fn build_info(binary: &Path) -> Result<BuildInfo, ImageError> {
    let out = tokio::process::Command::new("go")
        .args(["version", "-m"])
        .arg(binary)
        .output()
        .await
        .map_err(|source| ImageError::Io {
            path: "go".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(ImageError::GoVersion(tail(
            &String::from_utf8_lossy(&out.stderr),
            5,
        )));
    }
    Ok(parse_build_info(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse `go version -m` output (tab-separated lines after the `<file>: go1.x` line).
pub fn parse_build_info(text: &str) -> BuildInfo {
    let mut info = BuildInfo::default();
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        info.go_version = first
            .rsplit_once(": ")
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
    }
    for line in lines {
        let fields: Vec<&str> = line.trim_start().split('\t').collect();
        let module = |f: &[&str]| Module {
            path: f.get(1).copied().unwrap_or_default().to_string(),
            version: f.get(2).copied().unwrap_or_default().to_string(),
            sum: f.get(3).filter(|s| !s.is_empty()).map(|s| s.to_string()),
        };
        match fields.first().copied() {
            Some("path") => info.package = fields.get(1).copied().unwrap_or_default().into(),
            Some("mod") => info.main = Some(module(&fields)),
            Some("dep") => info.deps.push(module(&fields)),
            // A replacement applies to the dependency just before it.
            Some("=>") => {
                if let Some(last) = info.deps.last_mut() {
                    *last = Module {
                        path: fields.get(1).copied().unwrap_or_default().to_string(),
                        version: fields.get(2).copied().unwrap_or_default().to_string(),
                        sum: fields
                            .get(3)
                            .filter(|s| !s.is_empty())
                            .map(|s| s.to_string()),
                    };
                }
            }
            Some("build") => {
                if let Some((k, v)) = fields.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_version_m_with_replacements() {
        let text = "bin/orders: go1.26.8\n\tpath\texample.org/orders/cmd/orders\n\
            \tmod\texample.org/orders\t(devel)\t\n\
            \tdep\tgithub.com/a/b\tv1.2.3\th1:abc=\n\
            \tdep\tgithub.com/c/d\tv0.1.0\th1:x=\n\
            \t=>\tgithub.com/e/d\tv0.2.0\th1:y=\n\
            \tbuild\t-trimpath=true\n\tbuild\tGOARCH=arm64\n";
        let info = parse_build_info(text);
        assert_eq!(info.go_version, "go1.26.8");
        assert_eq!(info.package, "example.org/orders/cmd/orders");
        assert_eq!(info.main.unwrap().path, "example.org/orders");
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[1].path, "github.com/e/d");
        assert_eq!(info.deps[1].version, "v0.2.0");
        assert!(info.settings.contains(&("GOARCH".into(), "arm64".into())));
    }
}
