//! Hostile files, as a cloned repository can carry them: state and record files whose entries
//! point outside their folder, directly or through a committed symbolic link. Each test runs
//! the command a user would, and hashes the whole temporary folder (the project and its
//! "outside") before and after: nothing may change, and the refusal is one line, exit 2.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest, Sha256};

use crate::common;

/// Every entry below `root` with a hash of its bytes (files) or its target (links).
fn fingerprint(root: &Path) -> BTreeMap<PathBuf, String> {
    common::tree(root)
        .into_iter()
        .map(|rel| {
            let p = root.join(&rel);
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let print = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_file() {
                format!("{:x}", Sha256::digest(std::fs::read(&p).unwrap()))
            } else {
                "dir".to_string()
            };
            (rel, print)
        })
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_refused(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A service folder `--render` can read (hale.toml only), beside a file it must never touch.
fn service_beside_victim(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("project/orders");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hale.toml"), "name = \"orders\"\nport = 8080\n").unwrap();
    let victim = tmp.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    (dir, victim)
}

fn render(tmp: &Path, dir: &Path, extra: &[&str]) -> Output {
    common::hale(tmp)
        .args(["deploy"])
        .arg(dir)
        .args(["--render"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_render_record_pointing_outside_deploy_deletes_nothing_even_with_force() {
    let tmp = common::tempdir();
    let (dir, victim) = service_beside_victim(tmp.path());
    common::assert_success(&render(tmp.path(), &dir, &[]), "first render");
    let hash = sha256_hex(b"precious\n");
    for entry in [
        "../../../victim.txt".to_string(),
        victim.display().to_string(),
        "base/../../../../victim.txt".to_string(),
    ] {
        let record = serde_json::json!({ "version": 1, "files": { &entry: &hash } });
        std::fs::write(dir.join("deploy/.hale-render.json"), record.to_string()).unwrap();
        let before = fingerprint(tmp.path());
        for extra in [&[][..], &["--force"][..]] {
            let out = render(tmp.path(), &dir, extra);
            assert_refused(&out, &format!("entry {entry:?}"));
            assert_eq!(fingerprint(tmp.path()), before, "{entry} {extra:?}");
        }
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn a_committed_symlink_inside_deploy_is_not_followed() {
    let tmp = common::tempdir();
    let (dir, _victim) = service_beside_victim(tmp.path());
    common::assert_success(&render(tmp.path(), &dir, &[]), "first render");
    let outside = tmp.path().join("home");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("thesis.tex"), "years of work\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("deploy/docs")).unwrap();
    let record = serde_json::json!({
        "version": 1,
        "files": { "docs/thesis.tex": sha256_hex(b"years of work\n") },
    });
    std::fs::write(dir.join("deploy/.hale-render.json"), record.to_string()).unwrap();
    let before = fingerprint(tmp.path());
    let out = render(tmp.path(), &dir, &["--force"]);
    assert_refused(&out, "symbolic link");
    assert_eq!(fingerprint(tmp.path()), before);
}

#[test]
fn down_refuses_a_fleet_state_naming_files_outside_hale_dir() {
    let tmp = common::tempdir();
    let (dir, victim) = service_beside_victim(tmp.path());
    std::fs::create_dir_all(dir.join(".hale/logs")).unwrap();
    let state = serde_json::json!({
        "version": 1,
        "service": "orders",
        "registry": format!("file://{}/reg.json", tmp.path().display()),
        "binary": dir.join(".hale/bin/orders"),
        "instances": [{
            "id": "orders-1", "pid": 999_999, "address": "127.0.0.1", "port": 1,
            "log": victim, "started_unix_ms": 0
        }],
    });
    std::fs::write(dir.join(".hale/fleet.json"), state.to_string()).unwrap();
    let before = fingerprint(tmp.path());
    let out = common::hale(tmp.path())
        .arg("down")
        .arg(&dir)
        .output()
        .unwrap();
    assert_refused(&out, "points outside its folder");
    assert_eq!(fingerprint(tmp.path()), before);
}

#[test]
fn upgrade_does_not_write_through_a_committed_symlink() {
    need!(Go);
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    // The repository replaced cmd/ with a link to a folder of the user's.
    let outside = tmp.path().join("elsewhere");
    std::fs::rename(dir.join("cmd"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("cmd")).unwrap();
    let before = fingerprint(tmp.path());
    for extra in [&["--dry-run"][..], &[][..], &["--merge"][..]] {
        let out = common::hale(tmp.path())
            .arg("upgrade")
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        assert_refused(&out, "symbolic link");
        assert_eq!(fingerprint(tmp.path()), before, "{extra:?}");
    }
}

/// Runs hale with `args` in `dir`; a command that hangs past a generous deadline is killed and
/// the test fails (a FIFO read would block forever).
fn run_bounded(state: &Path, dir: &Path, args: &[&str]) -> Output {
    let child = common::hale(state)
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output().unwrap());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("hale {args:?} hung on a file that is not a regular file")
        })
}

fn fifo(path: &Path) {
    let out = std::process::Command::new("mkfifo")
        .arg(path)
        .output()
        .unwrap();
    common::assert_success(&out, "mkfifo");
}

/// hale.toml, hale.lock, the fleet state, a build record, `--check` manifests: a FIFO, a link
/// to /dev/zero or a folder in their place is refused at once with one line, exit 2.
#[test]
fn special_files_where_a_file_is_expected_are_refused_without_hanging() {
    let tmp = common::tempdir();
    let state = tmp.path();

    let dir = tmp.path().join("toml");
    std::fs::create_dir_all(&dir).unwrap();
    fifo(&dir.join("hale.toml"));
    let out = run_bounded(state, &dir, &["deploy", "--render"]);
    assert_refused(&out, "FIFO");

    let dir = tmp.path().join("zero");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("hale.lock")).unwrap();
    let out = run_bounded(state, &dir, &["upgrade", "--dry-run"]);
    assert_refused(&out, "character device");

    let (dir, _) = service_beside_victim(&tmp.path().join("fleet"));
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    fifo(&dir.join(".hale/fleet.json"));
    let out = run_bounded(state, &dir, &["down"]);
    assert_refused(&out, "FIFO");

    let (dir, _) = service_beside_victim(&tmp.path().join("record"));
    std::fs::create_dir_all(dir.join(".hale/build.json")).unwrap();
    let out = run_bounded(state, &dir, &["deploy", "--render"]);
    assert_refused(&out, "a folder");

    let manifests = tmp.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    fifo(&manifests.join("deployment.yaml"));
    let out = run_bounded(state, tmp.path(), &["deploy", "--check", "manifests"]);
    assert_refused(&out, "FIFO");
}

/// `deploy --check DIR` does not follow a link to a folder: a link back up would loop forever.
#[test]
fn check_does_not_follow_a_folder_link_into_a_loop() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    common::assert_success(&render(tmp.path(), &dir, &[]), "render");
    let check = || {
        let out = run_bounded(
            tmp.path(),
            &dir,
            &["deploy", "--check", "deploy", "--output", "json"],
        );
        common::assert_success(&out, "deploy --check");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["objects"].as_u64().unwrap()
    };
    let before = check();
    assert!(before > 0);
    // A link back up to deploy/: followed, it would loop forever, or count every object again.
    std::os::unix::fs::symlink("..", dir.join("deploy/base/loop")).unwrap();
    assert_eq!(check(), before, "each object counted once");
}

/// Deeply nested YAML, in a manifest for `--check` or in a kubeconfig: refused with one line
/// naming the file and where it goes past 64 levels, at once (100k levels of `{a: ` took libyaml
/// 96 s before). A document at the limit is still read.
#[test]
fn deeply_nested_yaml_is_refused_in_one_line_at_the_limit() {
    let tmp = common::tempdir();
    let manifests = tmp.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let nested = |n: usize| format!("a: {}x{}\n", "{a: ".repeat(n - 1), "}".repeat(n - 1));
    std::fs::write(manifests.join("deep.yaml"), nested(100_000)).unwrap();
    let before = fingerprint(tmp.path());
    let out = run_bounded(tmp.path(), tmp.path(), &["deploy", "--check", "manifests"]);
    assert_refused(
        &out,
        "error: deep.yaml:1:256: nested more than 64 levels deep; hale reads YAML up to 64 levels",
    );
    assert_eq!(fingerprint(tmp.path()), before);
    let flow = format!("{}x{}\n", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(manifests.join("deep.yaml"), flow).unwrap();
    let out = run_bounded(tmp.path(), tmp.path(), &["deploy", "--check", "manifests"]);
    assert_refused(
        &out,
        "error: deep.yaml:1:65: nested more than 64 levels deep",
    );
    std::fs::write(manifests.join("deep.yaml"), nested(64)).unwrap();
    let out = run_bounded(tmp.path(), tmp.path(), &["deploy", "--check", "manifests"]);
    common::assert_success(&out, "deploy --check at the limit");

    let (dir, _) = service_beside_victim(tmp.path());
    let config = tmp.path().join("kubeconfig");
    std::fs::write(&config, format!("apiVersion: v1\nzz: {}", nested(100_000))).unwrap();
    let before = fingerprint(tmp.path());
    let out = run_bounded(
        tmp.path(),
        &dir,
        &["deploy", "status", "--kubeconfig", config.to_str().unwrap()],
    );
    assert_refused(
        &out,
        &format!("cannot read the kubeconfig {}:2:", config.display()),
    );
    assert!(stderr(&out).contains("nested more than 64 levels"));
    let out = common::hale(tmp.path())
        .current_dir(&dir)
        .env("KUBECONFIG", &config)
        .args(["deploy", "status"])
        .output()
        .unwrap();
    assert_refused(&out, "nested more than 64 levels");
    assert_eq!(fingerprint(tmp.path()), before);
}

/// Zero where it makes no sense is refused at parse time wherever it comes from: a hale.toml
/// `[deploy.canary]` duration or count (as the flags are), an `--assert` bound that can never
/// hold or always holds. Nothing runs (no cluster is named, no request is sent) and nothing
/// changes.
#[test]
fn zero_durations_counts_and_bounds_are_refused_wherever_they_come_from() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    for (toml, line) in [
        (
            "window = \"0s\"",
            "error: hale.toml deploy.canary.window: \"0s\" is zero; give a duration above zero",
        ),
        (
            "p99 = \"0ms\"",
            "error: hale.toml deploy.canary.p99: \"0ms\" is zero",
        ),
        (
            "threshold = 0",
            "error: hale.toml deploy.canary.threshold: 0 is not allowed",
        ),
    ] {
        std::fs::write(
            dir.join("hale.toml"),
            format!("name = \"orders\"\n[deploy.canary]\n{toml}\n"),
        )
        .unwrap();
        let before = fingerprint(tmp.path());
        let out = run_bounded(tmp.path(), &dir, &["deploy", "--canary", "--canary-load"]);
        assert_refused(&out, line);
        assert_eq!(fingerprint(tmp.path()), before);
    }
    let before = fingerprint(tmp.path());
    for (assert, why) in [("p99<0s", "can never hold"), ("rps>=0", "always holds")] {
        let out = run_bounded(
            tmp.path(),
            &dir,
            &[
                "load",
                "--endpoints",
                "127.0.0.1:1",
                "-n",
                "1",
                "--assert",
                assert,
            ],
        );
        assert_refused(&out, why);
    }
    assert_eq!(fingerprint(tmp.path()), before);
}

/// `hale down --grace 0s` is meaningful, not refused: SIGKILL at once, no drain; hale
/// deregisters the instance itself and leaves nothing.
#[test]
fn down_with_zero_grace_kills_at_once_and_leaves_nothing() {
    need!(Go);
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    let out = common::hale(tmp.path())
        .args(["up", "--replicas", "1"])
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale up");
    let out = common::hale(tmp.path())
        .args(["down", "--grace", "0s"])
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale down --grace 0s");
    let err = stderr(&out);
    assert!(err.contains("killed after the grace period"), "{err}");
    assert!(err.contains("they did not deregister themselves"), "{err}");
    assert!(!dir.join(".hale").exists(), "{err}");
    let out = common::hale(tmp.path())
        .args(["discover", "orders"])
        .current_dir(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "discover");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("orders-"));
}

/// Ctrl-C or SIGTERM during the Go build of `hale up` on a fresh service (an empty GOCACHE, so
/// Go compiles the standard library for seconds): exit 130, no `go` or compiler process left,
/// no `go-build*` folder in the TMPDIR hale was given, the service folder byte for byte as it
/// was (no empty `.hale/bin/`, no lock file).
fn interrupted_up_build_leaves_nothing(signal: nix::sys::signal::Signal) {
    use std::time::{Duration, Instant};
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    let private_tmp = tmp.path().join("tmp");
    std::fs::create_dir_all(&private_tmp).unwrap();
    let before = fingerprint(&dir);
    let mark = format!("up-{}-{signal}", std::process::id());
    let mut child = common::hale(tmp.path())
        .args(["up", "--replicas", "1"])
        .arg(&dir)
        .env("TMPDIR", &private_tmp)
        .env("GOCACHE", tmp.path().join("gocache"))
        .env("HALE_SIGNAL_MARK", &mark)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !crate::build::processes_marked(&mark)
        .iter()
        .any(|p| p.ends_with(" compile"))
    {
        assert!(child.try_wait().unwrap().is_none(), "the build ended first");
        assert!(Instant::now() < deadline, "go never started compiling");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !crate::build::processes_marked(&mark).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            crate::build::processes_marked(&mark)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        common::tree(&private_tmp).is_empty(),
        "left in TMPDIR: {:?}",
        common::tree(&private_tmp)
    );
    assert_eq!(fingerprint(&dir), before, "{err}");
}

#[test]
fn sigint_during_the_go_build_of_up_exits_130_and_leaves_nothing() {
    need!(Go);
    interrupted_up_build_leaves_nothing(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_during_the_go_build_of_up_exits_130_and_leaves_nothing() {
    need!(Go);
    interrupted_up_build_leaves_nothing(nix::sys::signal::Signal::SIGTERM);
}

/// Values refused by their type before anything runs: each command below would otherwise
/// build, start, register or send; here it exits 2 with one line naming the flag, and the
/// folder (a service with hale.toml, state beside it) is byte for byte what it was.
#[test]
fn bad_values_are_refused_at_parse_time_and_nothing_changes() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let state = tmp.path();
    let cases: &[(&[&str], &str)] = &[
        (&["up", "--ready-timeout", "0s"], "'--ready-timeout"),
        (&["deploy", "--timeout", "0s"], "'--timeout"),
        (
            &["discover", "orders", "--watch", "--timeout", "0s"],
            "is zero",
        ),
        (
            &[
                "register",
                "--name",
                "a",
                "--address",
                "127.0.0.1:1",
                "--ttl",
                "0s",
            ],
            "is zero",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1/", "--timeout", "0s"],
            "'--timeout",
        ),
        (
            &[
                "load",
                "--url",
                "http://127.0.0.1:1/",
                "--breaker-window",
                "0s",
            ],
            "'--breaker-window",
        ),
        (
            &[
                "load",
                "--url",
                "http://127.0.0.1:1/",
                "--breaker-probes",
                "0",
            ],
            "at least 1",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1/", "--hash-keys", "0"],
            "at least 1",
        ),
        (
            &[
                "load",
                "--url",
                "http://127.0.0.1:1/",
                "--assert",
                "errors<150%",
            ],
            "at most 100%",
        ),
        (
            &["register", "--name", "a", "--address", "[::1"],
            "closing ]",
        ),
        (
            &["register", "--name", "a", "--address", "a b:80"],
            "a host name is",
        ),
        (
            &[
                "register",
                "--name",
                "a",
                "--address",
                "127.0.0.1:1",
                "--registry",
                "consul://[::1",
            ],
            "bad registry URL",
        ),
        (
            &["load", "--endpoints", "http://127.0.0.1:80"],
            "drop the scheme",
        ),
        (
            &["build", "--insecure-registry", "http://x/y"],
            "has a scheme",
        ),
        (
            &["up", "--runtime", "docker", "--image", "UPPER::bad"],
            "invalid image reference",
        ),
        (&["build", "--archive", "missing/x.tar"], "does not exist"),
        (&["build", "--oci-layout", "hale.toml"], "not a folder"),
        (
            &["deploy", "--render", "--scrape-target", "[::1"],
            "'--scrape-target",
        ),
    ];
    let before = fingerprint(tmp.path());
    for (args, needle) in cases {
        let out = run_bounded(state, &dir, args);
        assert_refused(&out, needle);
    }
    assert_eq!(fingerprint(tmp.path()), before, "nothing written");
}

/// The same values in hale.toml and `HALE_*` are refused the same way, naming the file or key.
#[test]
fn bad_values_in_hale_toml_and_the_environment_are_refused_like_flags() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    std::fs::write(
        dir.join("hale.toml"),
        "name = \"orders\"\nregistry = \"consul://[::1\"\n",
    )
    .unwrap();
    let before = fingerprint(tmp.path());
    let out = run_bounded(tmp.path(), &dir, &["deploy", "--render"]);
    assert_refused(&out, "hale.toml: registry: bad registry URL");
    std::fs::write(dir.join("hale.toml"), "name = \"orders\"\n").unwrap();
    let before_env = fingerprint(tmp.path());
    let out = common::hale(tmp.path())
        .current_dir(&dir)
        .env("HALE_REGISTRY", "etcd://a b:2379")
        .args(["discover", "orders"])
        .output()
        .unwrap();
    assert_refused(&out, "HALE_REGISTRY: bad registry URL");
    assert_eq!(fingerprint(tmp.path()), before_env);
    assert_ne!(before, before_env);
}

/// A registry file or fleet state written by a newer hale is refused like hale.lock, never
/// rewritten in this hale's format.
#[test]
fn state_files_from_a_newer_hale_are_refused_and_left_alone() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let registry = tmp.path().join("registry.json");
    std::fs::write(&registry, r#"{"version":2,"instances":[],"shards":{}}"#).unwrap();
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    std::fs::write(
        dir.join(".hale/fleet.json"),
        r#"{"version":7,"service":"orders","placement":"elsewhere"}"#,
    )
    .unwrap();
    let before = fingerprint(tmp.path());
    let url = format!("file://{}", registry.display());
    let out = run_bounded(
        tmp.path(),
        &dir,
        &[
            "register",
            "--name",
            "orders",
            "--address",
            "127.0.0.1:1",
            "--once",
            "--registry",
            &url,
        ],
    );
    assert_refused(&out, "format 2, written by a newer hale");
    let out = run_bounded(
        tmp.path(),
        &dir,
        &["discover", "orders", "--registry", &url],
    );
    assert_refused(&out, "format 2, written by a newer hale");
    for cmd in ["ps", "down"] {
        let out = run_bounded(tmp.path(), &dir, &[cmd]);
        assert_refused(&out, "fleet state of format 7, written by a newer hale");
    }
    // Only the registry's (empty) lock file may appear: writers take it before reading.
    let mut after = fingerprint(tmp.path());
    after.remove(Path::new("registry.json.lock"));
    assert_eq!(after, before);
}

/// A peer on 127.0.0.1 that accepts every connection and never answers (nor closes). Its
/// thread holds the sockets until the test process ends.
fn silent_listener() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().flatten() {
            held.push(socket);
        }
    });
    addr
}

/// A kubeconfig for `server` trusting `ca_pem` (no credentials: nothing gets that far).
fn kubeconfig(dir: &Path, server: &str, ca_pem: &str) -> PathBuf {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: t\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\nusers:\n- name: t\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    path
}

fn timed(state: &Path, dir: &Path, args: &[&str]) -> (Output, std::time::Duration) {
    let started = std::time::Instant::now();
    let out = run_bounded(state, dir, args);
    (out, started.elapsed())
}

#[track_caller]
fn assert_gave_up(out: &Output, took: std::time::Duration, what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}, one line: {err}");
    assert!(
        err.contains("no answer within 2s") && err.contains("--network-timeout"),
        "{what}: {err}"
    );
    // Each of the tries a command makes (registries: https, then http on loopback) waits 2 s.
    assert!(
        took < std::time::Duration::from_secs(9),
        "{what} took {took:?}: {err}"
    );
}

/// Consul, etcd and the Kubernetes API server, each a peer that accepts and never answers:
/// every command gives up after `--network-timeout` (here 2 s; also `HALE_NETWORK_TIMEOUT`),
/// in one line that names the deadline and how to raise it.
#[test]
fn a_peer_that_accepts_and_never_answers_fails_after_the_network_timeout() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let silent = silent_listener();
    for (what, url) in [
        ("consul", format!("consul://{silent}")),
        ("etcd", format!("etcd://{silent}")),
    ] {
        let (out, took) = timed(
            tmp.path(),
            &dir,
            &[
                "--network-timeout",
                "2s",
                "discover",
                "orders",
                "--registry",
                &url,
            ],
        );
        assert_gave_up(&out, took, what);
        let (out, took) = timed(
            tmp.path(),
            &dir,
            &[
                "--network-timeout",
                "2s",
                "register",
                "--once",
                "--name",
                "orders",
                "--address",
                "127.0.0.1:1",
                "--registry",
                &url,
            ],
        );
        assert_gave_up(&out, took, what);
    }
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let config = kubeconfig(
        tmp.path(),
        &format!("https://{silent}"),
        &certified.cert.pem(),
    );
    let started = std::time::Instant::now();
    let out = common::hale(tmp.path())
        .current_dir(&dir)
        .env("HALE_NETWORK_TIMEOUT", "2s")
        .args(["deploy", "--dry-run", "--kubeconfig"])
        .arg(&config)
        .output()
        .unwrap();
    assert_gave_up(&out, started.elapsed(), "API server");
}

/// `hale build --push` to a registry that accepts and never answers: after the Go build, the
/// push gives up within the deadline (it held the command for 330 s before).
#[test]
fn build_push_to_a_silent_registry_gives_up_after_the_network_timeout() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &dir);
    let silent = silent_listener();
    let (out, took) = timed(
        tmp.path(),
        &dir,
        &[
            "--network-timeout",
            "2s",
            "build",
            "--engine",
            "native",
            "--push",
            &format!("{silent}/orders"),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(last.contains("no answer within 2s"), "{err}");
    // The Go build comes first; the push itself is two tries (https, then http on loopback).
    assert!(took < std::time::Duration::from_secs(240), "{took:?}");
}

/// A TLS server whose certificate is for another name: the error is one sentence with the
/// cause and the fix, never a Debug dump of rustls' error.
#[test]
fn a_certificate_for_another_name_is_one_sentence_not_a_debug_dump() {
    use std::sync::Arc;
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let certified = rcgen::generate_simple_self_signed(vec!["other.example".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let _ = conn.complete_io(&mut socket);
        }
    });
    let kube = kubeconfig(
        tmp.path(),
        &format!("https://{addr}"),
        &certified.cert.pem(),
    );
    let out = common::hale(tmp.path())
        .current_dir(&dir)
        .args(["deploy", "--dry-run", "--kubeconfig"])
        .arg(&kube)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not valid for the host name"), "{err}");
    assert!(!err.contains('{') && !err.contains("Context"), "{err}");
}

/// Messages that say what is wrong, in one line, each cause once: a corrupt kubeconfig as
/// PATH:LINE:COLUMN, a pipe where a kubeconfig should be, binary garbage in hale.toml (exit 2,
/// like any malformed hale.toml), a file on the way to a folder hale must create, a name hint
/// that agrees with the rule.
#[test]
fn bad_files_and_names_get_one_line_that_says_what_is_wrong() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let state = tmp.path();
    let kube = tmp.path().join("bad.kubeconfig");
    std::fs::write(
        &kube,
        "apiVersion: v1\nkind: Config\nclusters:\n  - name: [x\n   bad: :\n",
    )
    .unwrap();
    let pipe = tmp.path().join("pipe.kubeconfig");
    fifo(&pipe);
    let garbage = tmp.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("hale.toml"), b"\xff\xfe\x00garbage\x01").unwrap();
    std::fs::write(tmp.path().join("a-file"), "").unwrap();
    let before = fingerprint(tmp.path());

    let out = run_bounded(
        state,
        &dir,
        &[
            "deploy",
            "--dry-run",
            "--kubeconfig",
            kube.to_str().unwrap(),
        ],
    );
    assert_refused(&out, "bad.kubeconfig:4:11: ");
    assert!(!stderr(&out).contains("-->"), "{}", stderr(&out));
    let out = run_bounded(
        state,
        &dir,
        &[
            "deploy",
            "--dry-run",
            "--kubeconfig",
            pipe.to_str().unwrap(),
        ],
    );
    assert_refused(&out, "a FIFO (named pipe), not a regular file");
    let out = run_bounded(state, &garbage, &["deploy", "--render"]);
    assert_refused(&out, "is not UTF-8 text");
    let err = stderr(&out);
    assert_eq!(
        err.matches("is not UTF-8 text").count(),
        1,
        "cause once: {err}"
    );
    let out = run_bounded(
        state,
        tmp.path(),
        &["new", "orders", "--dir", "a-file/orders"],
    );
    assert_refused(&out, "a-file is a file where a folder is needed");
    let out = run_bounded(state, tmp.path(), &["templates", "export", "a-file/t"]);
    assert_refused(&out, "a-file is a file where a folder is needed");
    let out = run_bounded(state, tmp.path(), &["new", "1orders"]);
    assert_refused(&out, "does not start with a lowercase letter");
    assert!(
        stderr(&out).contains("that starts with a lowercase letter"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("letter or digit and"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fingerprint(tmp.path()), before);
}

/// What other programs registered is shown, not obeyed: a terminal escape sequence in a tag or
/// meta value comes out of `hale discover` (text) escaped; JSON keeps the value as it is.
#[test]
fn control_characters_in_registry_entries_are_escaped_in_text() {
    let tmp = common::tempdir();
    let (dir, _) = service_beside_victim(tmp.path());
    let url = format!("file://{}", tmp.path().join("registry.json").display());
    let out = run_bounded(
        tmp.path(),
        &dir,
        &[
            "register",
            "--once",
            "--name",
            "orders",
            "--address",
            "127.0.0.1:9",
            "--tag",
            "\x1b[2Jred",
            "--meta",
            "v=\x07bell",
            "--registry",
            &url,
        ],
    );
    common::assert_success(&out, "register");
    let out = run_bounded(
        tmp.path(),
        &dir,
        &["discover", "orders", "--registry", &url],
    );
    common::assert_success(&out, "discover");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(
        text.contains("\\u{1b}[2Jred") && text.contains("v=\\u{7}bell"),
        "{text}"
    );
    let out = run_bounded(
        tmp.path(),
        &dir,
        &["--output", "json", "discover", "orders", "--registry", &url],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["instances"][0]["tags"][0], "\x1b[2Jred");
}

/// docs/exit-codes.md says, per command, what it refuses and which deadlines it keeps: every
/// command and subcommand of the CLI has its row, and so have the modes that behave apart.
#[test]
fn exit_codes_doc_has_a_row_for_every_command() {
    use clap::CommandFactory as _;
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/exit-codes.md"))
            .unwrap();
    let table = doc
        .split("## Per command")
        .nth(1)
        .expect("a Per command section");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| `hale "))
        .collect();
    let has_row = |name: &str| {
        rows.iter().any(|r| {
            r.split(" | ").next().is_some_and(|first| {
                first
                    .split(", ")
                    .any(|c| c.trim_start_matches("| ").starts_with(&format!("`{name}")))
            })
        })
    };
    let cli = hale::cli::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("hale {}", sub.get_name());
        if !has_row(&name) {
            missing.push(name.clone());
        }
        for inner in sub.get_subcommands().filter(|c| c.get_name() != "help") {
            let name = format!("{name} {}", inner.get_name());
            if !has_row(&name) {
                missing.push(name);
            }
        }
    }
    for mode in [
        "hale deploy --render",
        "hale deploy --check",
        "hale deploy --canary",
        "hale load --on-cluster",
    ] {
        if !has_row(mode) {
            missing.push(mode.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "no row in docs/exit-codes.md for {missing:?}"
    );
}
