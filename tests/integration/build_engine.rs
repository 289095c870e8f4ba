//! `hale build` through the real Docker Engine (BuildKit): a `hale new` service becomes an image
//! that runs read-only, without capabilities or a shell, as uid 65532 and answers /healthz on
//! 127.0.0.1; a failing step is named with its last lines; a dead engine, a missing Dockerfile
//! and bad flags fail clearly; an engine killed mid-build (a private dockerd) leaves no tag.
//! No image can be pulled: the generated Dockerfile takes its builder (this machine's Go as an
//! image) and its runtime base (`scratch`) as build args.
use crate::common;
use crate::common::engine::{docker, docker_ok, Cleanup};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const NAME: &str = "engsvc";

/// A committed `hale new` service with a vendor/ folder (so the build needs no network), made
/// once per test binary; tests clone it.
fn vendored_fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        common::committed_service("build-engine-fixture", NAME, |dir| {
            let out = Command::new("go")
                .args(["mod", "vendor"])
                .current_dir(dir)
                .output()
                .unwrap();
            common::assert_success(&out, "go mod vendor");
        })
    })
}

fn hale_build(dir: &Path, docker_host: &str, args: &[&str]) -> Output {
    common::hale(dir.parent().unwrap())
        .arg("build")
        .arg(dir)
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The build args that stand in for the images that cannot be pulled.
fn offline_args(builder: &str) -> Vec<String> {
    vec![
        "--network".into(),
        "none".into(),
        "--build-arg".into(),
        format!("BUILDER_IMAGE={builder}"),
        "--build-arg".into(),
        "RUNTIME_IMAGE=scratch".into(),
    ]
}

#[test]
fn auto_builds_a_new_service_through_buildkit_into_a_read_only_65532_image_that_answers_healthz() {
    need!(Go);
    let host = need!(Docker);
    let builder = need!(GoBuilderImage);
    let tmp = common::tempdir();
    let dir = common::clone(vendored_fixture(), tmp.path());
    let tag = format!("{NAME}:engine-{}", std::process::id());
    let container = format!("hale-test-engine-{}", std::process::id());
    let mut cleanup = Cleanup {
        host: &host,
        container: container.clone(),
        images: vec![tag.clone()],
    };
    // Secrets lying in the folder never enter the context (the generated allowlist).
    std::fs::write(dir.join(".env"), "TOKEN=leak\n").unwrap();
    let mut args = offline_args(&builder);
    args.extend(["--tag".into(), tag.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hale_build(&dir, &host, &args);
    common::assert_success(&out, "hale build");
    let err = stderr(&out);
    assert!(
        err.contains("building with BuildKit through the Docker Engine at unix://"),
        "{err}"
    );
    assert!(err.contains("RUN"), "BuildKit's steps are shown: {err}");

    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".hale/build.json")).unwrap()).unwrap();
    cleanup.images.extend(
        record["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string()),
    );
    assert_eq!(record["engine"], "docker");
    assert_eq!(record["user"], "65532:65532");
    assert_eq!(record["loaded"], true);
    let digest = record["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{record:#}");
    // The OCI layout holds the same image the engine built, by digest.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".hale/image/oci/index.json")).unwrap())
            .unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest);
    let revision = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&dir)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let tags: Vec<&str> = record["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags[0], format!("{NAME}:dev"));
    assert_eq!(tags[1], format!("{NAME}:{}", &revision.trim()[..12]));
    assert!(tags.contains(&tag.as_str()));
    for t in &tags {
        // Every tag names the one image.
        docker_ok(&host, &["image", "inspect", t]);
    }
    let inspect = |f: &str| docker_ok(&host, &["image", "inspect", "-f", f, &tag]);
    assert_eq!(inspect("{{.Config.User}}"), "65532:65532");
    assert_eq!(
        inspect("{{index .Config.Labels \"org.opencontainers.image.revision\"}}"),
        revision.trim()
    );
    assert_eq!(
        inspect("{{index .Config.Labels \"org.opencontainers.image.version\"}}"),
        "dev"
    );

    common::engine::assert_runs_hardened(&host, &tag, &container);
}

#[test]
fn an_engine_image_pushes_through_hales_pusher_with_its_sbom_and_a_second_push_uploads_nothing() {
    need!(Go);
    let host = need!(Docker);
    let builder = need!(GoBuilderImage);
    let registry = need!(OciRegistry);
    let tmp = common::tempdir();
    let dir = common::clone(vendored_fixture(), tmp.path());
    // A commit of its own, so its `<name>:<sha>` tag is not another test's.
    common::git(&dir, &["commit", "-q", "--allow-empty", "-m", "push"]);
    let version = format!("push{}", std::process::id());
    let repo = format!("hale-test/engine-push-{}", std::process::id());
    let target = format!("{registry}/{repo}:v1");
    let mut args = offline_args(&builder);
    args.extend([
        "--engine".into(),
        "docker".into(),
        "--image-version".into(),
        version.clone(),
        "--push".into(),
        target.clone(),
        "--output".into(),
        "json".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hale_build(&dir, &host, &args);
    common::assert_success(&out, "hale build --push");
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags: Vec<String> = first["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let by_digest = format!("{registry}/{repo}@{}", first["digest"].as_str().unwrap());
    let mut images = tags.clone();
    images.push(by_digest.clone());
    let _cleanup = Cleanup {
        host: &host,
        container: String::new(),
        images,
    };
    assert_eq!(first["engine"], "docker");
    assert_eq!(first["pushed"], by_digest.as_str());
    assert!(
        first["push"]["uploaded_blobs"].as_u64().unwrap() >= 2,
        "{first:#}"
    );
    assert_eq!(
        first["push"]["sbom_referrers"].as_array().unwrap().len(),
        1,
        "the SBOM of the binary the engine built is attached: {first:#}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".hale/build.json")).unwrap()).unwrap();
    assert_eq!(record, first, "build.json records what was printed");

    let out = hale_build(&dir, &host, &args);
    common::assert_success(&out, "hale build --push, again");
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        second["digest"], first["digest"],
        "same engine image, same digest"
    );
    assert_eq!(second["push"]["uploaded_blobs"], 0, "{:#}", second["push"]);

    // The registry serves it by digest to the engine, which runs it as built.
    docker_ok(&host, &["pull", "-q", &by_digest]);
    assert_eq!(
        docker_ok(
            &host,
            &["image", "inspect", "-f", "{{.Config.User}}", &by_digest]
        ),
        "65532:65532"
    );
    assert_eq!(
        docker_ok(&host, &["image", "inspect", "-f", "{{.Id}}", &by_digest]),
        docker_ok(&host, &["image", "inspect", "-f", "{{.Id}}", &tags[0]]),
        "the pushed image is the engine's image (same config, same ID)"
    );
}

#[test]
fn a_failing_step_is_named_with_its_last_output_lines_and_exits_1_tagging_nothing() {
    need!(Go);
    let host = need!(Docker);
    let builder = need!(GoBuilderImage);
    let tmp = common::tempdir();
    let dir = common::clone(vendored_fixture(), tmp.path());
    let main = dir.join("cmd").join(NAME).join("main.go");
    let mut src = std::fs::read_to_string(&main).unwrap();
    src.push_str("\nfunc broken() { undefinedThing() }\n");
    std::fs::write(&main, src).unwrap();
    let tag = format!("{NAME}:broken-{}", std::process::id());
    let _cleanup = Cleanup {
        host: &host,
        container: String::new(),
        images: vec![tag.clone()],
    };
    let mut args = offline_args(&builder);
    args.extend([
        "--engine".into(),
        "docker".into(),
        "--tag".into(),
        tag.clone(),
        "--image-version".into(),
        format!("broken{}", std::process::id()),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hale_build(&dir, &host, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("");
    assert!(
        last.contains("step `[build 6/6] RUN") && last.contains("go build"),
        "names the failed step: {err}"
    );
    assert!(
        err.contains("undefined: undefinedThing"),
        "shows the step's last lines: {err}"
    );
    assert!(
        !docker(&host, &["image", "inspect", &tag]).status.success(),
        "a failed build left the tag {tag}"
    );
    assert!(!dir.join(".hale/build.json").exists());
}

#[test]
fn engine_docker_with_no_engine_answering_fails_in_one_line_naming_the_host() {
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    common::scaffold(tmp.path(), NAME, &dir);
    let sock = tmp.path().join("none.sock");
    let host = format!("unix://{}", sock.display());
    let out = hale_build(&dir, &host, &["--engine", "docker"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("no Docker Engine answers at {host}")),
        "{err}"
    );
}

#[test]
fn no_dockerfile_exits_2_offering_write_dockerfile_which_writes_hale_news_files() {
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    common::scaffold(tmp.path(), NAME, &dir);
    let generated = std::fs::read(dir.join("Dockerfile")).unwrap();
    let ignore = std::fs::read(dir.join(".dockerignore")).unwrap();
    std::fs::remove_file(dir.join("Dockerfile")).unwrap();
    std::fs::remove_file(dir.join(".dockerignore")).unwrap();
    let host = format!("unix://{}", tmp.path().join("none.sock").display());
    let before = common::tree(&dir);
    let out = hale_build(&dir, &host, &["--engine", "docker"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("has no Dockerfile") && err.contains("--write-dockerfile"),
        "{err}"
    );
    assert_eq!(common::tree(&dir), before, "nothing written");

    // The flag writes what `hale new` makes, then builds (here: no engine, exit 1).
    let out = hale_build(&dir, &host, &["--engine", "docker", "--write-dockerfile"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("Dockerfile")).unwrap(), generated);
    assert_eq!(std::fs::read(dir.join(".dockerignore")).unwrap(), ignore);
    // Never overwrites.
    let out = hale_build(&dir, &host, &["--engine", "docker", "--write-dockerfile"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("never overwrites"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_engine_flags_exit_2_without_echoing_values() {
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    common::scaffold(tmp.path(), NAME, &dir);
    let host = format!("unix://{}", tmp.path().join("none.sock").display());
    for args in [
        &["--engine", "docker", "--build-arg", "1BAD=hunter2-secret"][..],
        &["--engine", "docker", "--build-arg", "NOEQUALS"],
        &["--engine", "docker", "--target", "../x"],
        &["--engine", "docker", "--network", "bridge2"],
        &[
            "--engine",
            "docker",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
        &["--engine", "docker", "--base", "oci-layout:/nowhere"],
        &["--engine", "native", "--build-arg", "A=b"],
    ] {
        let out = hale_build(&dir, &host, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    }
}

/// A dockerd of the test's own (socket, data root, exec root under a temp folder), so that it
/// can be killed without touching the shared engine.
struct PrivateEngine {
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateEngine {
    fn host(&self) -> String {
        format!("unix://{}", self.dir.join("d.sock").display())
    }

    fn start(dir: &Path) -> PrivateEngine {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .unwrap();
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", dir.join("d.sock").display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("d.pid"))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        let engine = PrivateEngine {
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !docker(&engine.host(), &["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the private dockerd did not start: {}",
                std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    /// SIGKILL: the engine goes away without a word.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What a reboot clears: the exec root (sockets, pid files of the killed engine and its
    /// containerd), so the engine starts again on the same data root.
    fn forget_runtime_state(&self) {
        unmount_below(&self.dir.join("exec"));
        let _ = std::fs::remove_dir_all(self.dir.join("exec"));
        let _ = std::fs::remove_file(self.dir.join("d.pid"));
    }
}

/// A killed engine leaves its overlay mounts behind: undo those below `dir`, deepest first.
fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").args(["-l", p]).status();
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.stop();
        unmount_below(&self.dir);
    }
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(cmd).is_file()))
}

#[test]
fn an_engine_killed_mid_build_fails_clearly_and_leaves_no_tag() {
    need!(Docker);
    let missing: Vec<&str> = ["dockerd", "busybox", "umount"]
        .into_iter()
        .filter(|c| !on_path(c))
        .collect();
    if !missing.is_empty() {
        let what = format!("a private dockerd needs {} on PATH", missing.join(", "));
        assert!(
            std::env::var("HALE_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
            "HALE_TEST_REQUIRE_ALL=1 and {what}"
        );
        eprintln!("skipped: {what}");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("hale-pd-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut engine = PrivateEngine::start(tmp.path());
    let host = engine.host();
    // A base with a shell-less sleep, imported (nothing can be pulled).
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    let busybox = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .unwrap();
    let busybox = String::from_utf8(busybox.stdout).unwrap();
    std::fs::copy(busybox.trim(), rootfs.join("bin/busybox")).unwrap();
    let tar = tmp.path().join("rootfs.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .output()
        .unwrap();
    common::assert_success(&out, "tar");
    docker_ok(
        &host,
        &["import", tar.to_str().unwrap(), "hale-test/sleeper:1"],
    );

    let dir = tmp.path().join("sleepy");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hale.toml"), "name = \"sleepy\"\n").unwrap();
    // Exec form: no shell needed. The sleep ends by itself once its engine is gone.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM hale-test/sleeper:1\nRUN [\"/bin/busybox\", \"sleep\", \"30\"]\n",
    )
    .unwrap();
    let mut child = common::hale(tmp.path())
        .arg("build")
        .arg(&dir)
        .args(["--engine", "docker", "--network", "none"])
        .env("DOCKER_HOST", &host)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err_pipe = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
            if line.contains("RUN [") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the build never reached its RUN step");
    engine.kill();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hale did not stop after its engine went away");
        }
        thread::sleep(Duration::from_millis(100));
    };
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.contains(&format!(
            "the Docker Engine at {host} went away during the build"
        )),
        "{err}"
    );
    // Back up on the same data root: no tag was left behind.
    engine.forget_runtime_state();
    let mut engine = PrivateEngine::start(tmp.path());
    let images = docker_ok(&host, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("sleepy"), "a tag survived: {images}");
    assert!(!dir.join(".hale/build.json").exists());
    engine.stop();
}
