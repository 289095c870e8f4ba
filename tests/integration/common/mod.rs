//! The test harness shared by every integration test binary: the hale binary with a clean
//! environment, temporary folders, and the real services `scripts/test-env.sh` starts.
//!
//! A test that needs a service calls [`service`]. When the service's variable is missing it
//! skips (prints why) — unless `HALE_TEST_REQUIRE_ALL=1`, as the README's test command sets,
//! where it fails naming the missing piece, so a green run never hides a missing service.
#![allow(dead_code)]

pub mod engine;
pub mod tls_server;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The real services of the test environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Docker,
    Etcd,
    Consul,
    OciRegistry,
    Prometheus,
    Promtool,
    Go,
    Chromium,
    /// The imported image holding this machine's Go toolchain (no image can be pulled).
    GoBuilderImage,
    /// A docker CLI configuration folder whose cli-plugins hold buildx (BuildKit builds).
    DockerConfig,
    /// PyPI spdx-tools' validator, in a venv made by scripts/test-env.d/image.sh.
    Pyspdxtools,
    /// A Python with bcrypt (same venv), to write htpasswd files.
    ImagePython,
    /// PyPI's kubernetes-validate (offline Kubernetes schemas), from scripts/test-env.d/manifests.sh.
    KubernetesValidate,
    /// kustomize, built by scripts/test-env.d/manifests.sh.
    Kustomize,
    /// The admin kubeconfig of the Kubernetes control plane scripts/kube-env.sh starts
    /// (kube-apiserver, controller manager, scheduler, kwok's fake nodes).
    Kube,
    /// The folder of the Prometheus operator's CRD files (monitoring.coreos.com_*.yaml).
    PrometheusCrds,
    /// The name of the cluster's real node (kubelet, containerd, kube-proxy:
    /// scripts/kube-node.sh), whose pods really run; absent where the machine cannot run one.
    KubeNode,
    /// PyPI's openapi-spec-validator, from scripts/test-env.d/openapi.sh.
    OpenapiSpecValidator,
    /// actionlint, built by scripts/test-env.d/ci.sh.
    Actionlint,
    /// golangci-lint, built by scripts/test-env.d/ci.sh.
    GolangciLint,
    /// PyPI's check-jsonschema (GitLab's CI schema inside), from scripts/test-env.d/ci.sh.
    CheckJsonschema,
    /// govulncheck, built by scripts/test-env.d/ci.sh (its module then sits in the module cache
    /// the generated pipelines' install step builds it from).
    Govulncheck,
    /// oras, built by scripts/test-env.d/image.sh: finds referrers the way users do.
    Oras,
    /// The Gateway API's standard-channel CRD files, from scripts/test-env.d/gateway.sh.
    GatewayCrds,
    /// Where Traefik's binary is (or will be: scripts/test-env.sh builds it in the background;
    /// `traffic_gateway::traefik_binary` waits for it).
    Traefik,
}

impl Service {
    fn var(self) -> &'static str {
        match self {
            Service::Docker => "HALE_TEST_DOCKER_HOST",
            Service::Etcd => "HALE_TEST_ETCD",
            Service::Consul => "HALE_TEST_CONSUL",
            Service::OciRegistry => "HALE_TEST_OCI_REGISTRY",
            Service::Prometheus => "HALE_TEST_PROMETHEUS",
            Service::Promtool => "promtool",
            Service::Go => "go",
            Service::Chromium => "chromium",
            Service::GoBuilderImage => "HALE_TEST_GO_BUILDER_IMAGE",
            Service::DockerConfig => "HALE_TEST_DOCKER_CONFIG",
            Service::Pyspdxtools => "HALE_TEST_PYSPDXTOOLS",
            Service::ImagePython => "HALE_TEST_IMAGE_PYTHON",
            Service::KubernetesValidate => "HALE_TEST_KUBERNETES_VALIDATE",
            Service::Kustomize => "HALE_TEST_KUSTOMIZE",
            Service::Kube => "HALE_TEST_KUBECONFIG",
            Service::PrometheusCrds => "HALE_TEST_PROMETHEUS_CRDS",
            Service::KubeNode => "HALE_TEST_KUBE_NODE",
            Service::OpenapiSpecValidator => "HALE_TEST_OPENAPI_SPEC_VALIDATOR",
            Service::Actionlint => "HALE_TEST_ACTIONLINT",
            Service::GolangciLint => "HALE_TEST_GOLANGCI_LINT",
            Service::CheckJsonschema => "HALE_TEST_CHECK_JSONSCHEMA",
            Service::Govulncheck => "HALE_TEST_GOVULNCHECK",
            Service::Oras => "HALE_TEST_ORAS",
            Service::GatewayCrds => "HALE_TEST_GATEWAY_CRDS",
            Service::Traefik => "HALE_TEST_TRAEFIK",
        }
    }
}

fn require_all() -> bool {
    std::env::var("HALE_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

fn on_path(cmd: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

/// The address (or, for tools, the path) of a test-environment service; `None` means skip.
pub fn service(which: Service) -> Option<String> {
    let found = match which {
        Service::Promtool | Service::Go | Service::Chromium => on_path(which.var()),
        _ => std::env::var(which.var()).ok().filter(|v| !v.is_empty()),
    };
    if found.is_none() {
        let what = format!(
            "{which:?} is missing ({} not set or not found): run scripts/test-env.sh as root and \
             source $HALE_TEST_STATE/env",
            which.var()
        );
        if require_all() {
            panic!("HALE_TEST_REQUIRE_ALL=1 and {what}");
        }
        eprintln!("skipped: {what}");
    }
    found
}

/// Skip the calling test (return) unless the service is there.
#[macro_export]
macro_rules! need {
    ($svc:ident) => {
        match common::service(common::Service::$svc) {
            Some(v) => v,
            None => return,
        }
    };
}

/// The hale binary under test, with an environment free of the caller's HALE_* settings and a
/// private state folder (so the default file registry is the test's own).
pub fn hale(state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hale"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HALE_") && !k.starts_with("HALE_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HALE_STATE_DIR", state.join("state"))
        .env("NO_COLOR", "1")
        .env_remove("HALE_OUTPUT");
    cmd
}

/// A temporary folder that is kept when `HALE_TEST_KEEP=1`, for post-mortems.
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hale-test-")
        .tempdir()
        .unwrap();
    if std::env::var("HALE_TEST_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {}", dir.path().display());
    }
    dir
}

/// Every file below `root`, relative, sorted: to assert that a failure left the disk as it was.
pub fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `hale new NAME --dir DIR --no-tidy`, asserting success: a real generated service for tests
/// that run it (the embedded go.sum already pins every module, so tidy is not needed).
pub fn scaffold(state: &Path, name: &str, dir: &Path) {
    let out = hale(state)
        .args(["new", name, "--dir"])
        .arg(dir)
        .arg("--no-tidy")
        .output()
        .unwrap();
    assert_success(&out, &format!("hale new {name}"));
}

/// git in `dir`, with a fixed identity and no signing; it must succeed.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert_success(&out, &format!("git {}", args.join(" ")));
}

/// A `hale new` service `name`, made afresh under the test binary's temporary folder
/// (`CARGO_TARGET_TMPDIR/<label>`), `prepare`d (e.g. `go mod vendor`) and committed.
pub fn committed_service(label: &str, name: &str, prepare: impl FnOnce(&Path)) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(label);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let dir = root.join(name);
    scaffold(&root, name, &dir);
    prepare(&dir);
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "generated"]);
    dir
}

/// A clone of the repository `from` into `into/<its folder name>`.
pub fn clone(from: &Path, into: &Path) -> PathBuf {
    let dir = into.join(from.file_name().unwrap());
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(from)
        .arg(&dir)
        .output()
        .unwrap();
    assert_success(&out, "git clone");
    dir
}

/// Asserts a command exited 0, showing its status and stderr otherwise.
#[track_caller]
pub fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
