//! `hale up --runtime docker`: a fleet of containers of the image `hale build --load` made
//! from a `hale new` service, on the real engine of the test environment. `ps`, `down` and
//! `hale load`'s kill/restore faults work as they do for processes, through the engine.
use crate::common;
use crate::common::engine::{docker, docker_ok};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

/// hale with the test engine as DOCKER_HOST.
fn hale(tmp: &Path, host: &str, args: &[&str]) -> Output {
    common::hale(tmp)
        .env("DOCKER_HOST", host)
        .args(args)
        .output()
        .unwrap()
}

fn hale_json(tmp: &Path, host: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--output", "json"]);
    let out = hale(tmp, host, &all);
    common::assert_success(&out, &format!("hale {args:?}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A file registry in a folder the containers' user (65532) may write, as the docs ask.
fn registry_for_containers(tmp: &Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tmp.join("registry");
    std::fs::create_dir(&dir).unwrap();
    if std::os::unix::fs::chown(&dir, Some(65532), Some(65532)).is_err() {
        // Not root: a private temporary folder anyone may write is the next best thing.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    format!("file://{}", dir.join("registry.json").display())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The containers of a fleet (by hale's label), running or not.
fn labelled(host: &str, label: &str) -> Vec<String> {
    docker_ok(host, &["ps", "-aq", "--filter", &format!("label={label}")])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Removes whatever a failed test left: the fleet (`hale down`), its containers, its image.
struct Cleanup {
    tmp: PathBuf,
    host: String,
    dir: PathBuf,
    service: String,
    image: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = hale(
            &self.tmp,
            &self.host,
            &["down", &self.dir.display().to_string()],
        );
        for id in labelled(&self.host, &format!("dev.hale.service={}", self.service)) {
            let _ = docker(&self.host, &["rm", "-f", &id]);
        }
        if let Some(image) = &self.image {
            let _ = docker(&self.host, &["rmi", "-f", image]);
        }
    }
}

fn discovered(tmp: &Path, name: &str, registry: &str) -> Vec<String> {
    let out = common::hale(tmp)
        .args(["discover", name, "--registry", registry, "--output", "json"])
        .output()
        .unwrap();
    common::assert_success(&out, "hale discover");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn wait_discovered(tmp: &Path, name: &str, registry: &str, want: &[String]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let ids = discovered(tmp, name, registry);
        if ids == want || start.elapsed() > Duration::from_secs(60) {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn by_id<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no instance {id} in {}", report["instances"]))
}

/// A `hale new` service `d<pid><suffix>` built natively and loaded into the engine: its folder,
/// its name, the cleanup that removes what the test leaves, and the build's document.
fn built_service(tmp: &Path, host: &str, suffix: &str) -> (PathBuf, String, Cleanup, Value) {
    let name = format!("d{}{suffix}", std::process::id());
    let dir = tmp.join(&name);
    common::scaffold(tmp, &name, &dir);
    let mut cleanup = Cleanup {
        tmp: tmp.to_path_buf(),
        host: host.to_string(),
        dir: dir.clone(),
        service: name.clone(),
        image: None,
    };
    let build = hale_json(
        tmp,
        host,
        &[
            "build",
            &dir.display().to_string(),
            "--engine",
            "native",
            "--load",
        ],
    );
    cleanup.image = build["reference"].as_str().map(str::to_string);
    (dir, name, cleanup, build)
}

/// The whole life of a container fleet: build the image natively and load it, up 3 locked-down
/// containers that register themselves, ps, a load test that kills and restores one through
/// the engine, down — and no container, state or registry entry is left.
#[test]
fn container_fleet_runs_the_built_image_survives_a_kill_fault_and_down_removes_every_container() {
    need!(Go);
    let host = need!(Docker);
    let tmp = common::tempdir();
    let (dir, name, _cleanup, build) = built_service(tmp.path(), &host, "fleet");
    let dir_text = dir.display().to_string();
    assert_eq!(build["loaded"], true, "{build}");
    let reference = build["reference"].as_str().unwrap().to_string();
    let registry = registry_for_containers(tmp.path());

    // No --image: the one .hale/build.json names.
    let up = hale_json(
        tmp.path(),
        &host,
        &[
            "up",
            &dir_text,
            "--runtime",
            "docker",
            "--replicas",
            "3",
            "--registry",
            &registry,
        ],
    );
    assert_eq!(up["runtime"], "docker");
    assert_eq!(up["image"], reference.as_str());
    let image_id = docker_ok(&host, &["image", "inspect", "-f", "{{.Id}}", &reference]);
    assert_eq!(up["image_id"], image_id.as_str());
    let want: Vec<String> = (1..=3).map(|n| format!("{name}-{n}")).collect();
    let instances = up["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    for i in instances {
        assert_eq!(i["registered"], true, "{i}");
        let container = i["container"].as_str().expect("a container id");
        let seen = docker_ok(
            &host,
            &[
                "inspect",
                "-f",
                "{{.Image}} {{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} \
                 {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.Config.User}} \
                 {{index .Config.Labels \"dev.hale.instance\"}}",
                container,
            ],
        );
        assert_eq!(
            seen,
            format!(
                "{image_id} host true [ALL] [no-new-privileges] 65532:65532 {}",
                i["id"].as_str().unwrap()
            )
        );
        // The main process runs as 65532 on the host.
        let pid = i["pid"].as_u64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_eq!(
            uid.split_whitespace().skip(1).collect::<Vec<_>>(),
            ["65532"; 4]
        );
        assert_eq!(i["address"], "127.0.0.1");
    }
    assert_eq!(wait_discovered(tmp.path(), &name, &registry, &want), want);

    let ps = hale_json(tmp.path(), &host, &["ps", &dir_text]);
    assert_eq!(ps["runtime"], "docker");
    for (row, up_row) in ps["instances"].as_array().unwrap().iter().zip(instances) {
        assert_eq!(row["alive"], true, "{row}");
        assert_eq!(row["healthz"], 200, "{row}");
        assert_eq!(row["readyz"], 200, "{row}");
        assert_eq!(row["container"], up_row["container"]);
        assert_eq!(
            row["faults"]["enabled"], true,
            "admin API on its own port: {row}"
        );
    }

    // As with processes (tests/integration/load.rs): the kill goes through the engine, the
    // breaker opens, the others take the traffic, the restored container recovers.
    let victim = want[1].clone();
    let killed_container = instances[1]["container"].as_str().unwrap().to_string();
    let out = common::hale(tmp.path())
        .env("DOCKER_HOST", &host)
        .args(["load", &name, "--registry", &registry, "--output", "json"])
        .args([
            "-s",
            "round-robin",
            "-c",
            "4",
            "-d",
            "12s",
            "--breaker-open",
            "1s",
        ])
        .args(["--fleet", &dir_text])
        .args(["--fault", &format!("at=1s,kill={victim}")])
        .args(["--fault", &format!("at=4s,restore={victim}")])
        .args(["--assert", "recover<8s"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures = report["resilience"].as_array().unwrap();
    let kill = figures.iter().find(|f| f["kind"] == "kill").unwrap();
    let restore = figures.iter().find(|f| f["kind"] == "restore").unwrap();
    let opened = kill["breaker_opened_after_ms"]
        .as_f64()
        .expect("the breaker opened after the kill");
    let restored_after = restore["at_ms"].as_f64().unwrap() - kill["at_ms"].as_f64().unwrap();
    assert!(opened < restored_after, "{kill}");
    assert!(
        restore["recovered_after_ms"].as_f64().is_some(),
        "{restore}"
    );
    assert_eq!(by_id(&report, &victim)["breaker"], "closed");
    // While the victim was dead the other two took the traffic.
    for other in [&want[0], &want[2]] {
        let row = by_id(&report, other);
        assert!(row["requests"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["ok"], row["requests"], "{row}");
    }
    let timeline = report["timeline"].as_array().unwrap();
    assert!(
        !timeline.iter().any(|e| e["kind"] == "fault-failed"),
        "{}",
        report["timeline"]
    );
    // Restored as a new container of the same image, on the same port.
    let ps = hale_json(tmp.path(), &host, &["ps", &dir_text]);
    let row = by_id(&ps, &victim);
    assert_eq!(row["alive"], true);
    assert_eq!(row["port"], instances[1]["port"]);
    let restored = row["container"].as_str().unwrap();
    assert_ne!(restored, killed_container);
    assert_eq!(
        docker_ok(&host, &["inspect", "-f", "{{.Image}}", restored]),
        image_id
    );

    let down = hale_json(tmp.path(), &host, &["down", &dir_text]);
    let stopped = down["stopped"].as_array().unwrap();
    assert_eq!(stopped.len(), 3);
    for s in stopped {
        assert_eq!(s["how"], "sigterm", "graceful stop expected: {s}");
    }
    let key_label = format!("dev.hale.service={name}");
    assert!(
        labelled(&host, &key_label).is_empty(),
        "containers left after hale down"
    );
    assert!(!dir.join(".hale/fleet.json").exists());
    assert!(discovered(tmp.path(), &name, &registry).is_empty());
}

/// What keeps a container fleet from starting is said in one line, and nothing is started or
/// recorded: no image recorded (2), an image the engine lacks (2), a file registry the
/// containers could not write (2), no engine answering (1).
#[test]
fn a_container_fleet_that_cannot_start_says_why_in_one_line() {
    need!(Go);
    let host = need!(Docker);
    let tmp = common::tempdir();
    let name = format!("d{}fail", std::process::id());
    let dir = tmp.path().join(&name);
    common::scaffold(tmp.path(), &name, &dir);
    let dir_text = dir.display().to_string();
    let _cleanup = Cleanup {
        tmp: tmp.path().to_path_buf(),
        host: host.clone(),
        dir: dir.clone(),
        service: name.clone(),
        image: None,
    };
    let registry = registry_for_containers(tmp.path());
    let root_only = tmp.path().join("root-only");
    std::fs::create_dir(&root_only).unwrap();
    let root_only_registry = format!("file://{}", root_only.join("r.json").display());
    let absent = format!("hale-test/absent-{}:none", std::process::id());
    let dead = tmp.path().join("no-engine.sock");
    let dead_host = format!("unix://{}", dead.display());
    let up = ["up", dir_text.as_str(), "--runtime", "docker"];
    let cases: [(&str, Vec<&str>, &str, i32, &str); 5] = [
        (
            "no build",
            vec!["--registry", &registry],
            &host,
            2,
            "hale build --load",
        ),
        (
            "absent image",
            vec!["--registry", &registry, "--image", &absent],
            &host,
            2,
            "is not in the Docker Engine",
        ),
        (
            "bad reference",
            vec!["--registry", &registry, "--image", "a b?x"],
            &host,
            2,
            "invalid image reference",
        ),
        (
            "registry folder",
            vec!["--registry", &root_only_registry, "--image", &absent],
            &host,
            2,
            "not writable by the containers' user 65532",
        ),
        (
            "no engine",
            vec!["--registry", &registry, "--image", &absent],
            &dead_host,
            1,
            "no Docker Engine answers",
        ),
    ];
    for (what, extra, engine, code, says) in cases {
        if what == "registry folder" && !is_root() {
            // Only root can make a folder that 65532 may not write but the test may.
            continue;
        }
        let mut args = up.to_vec();
        args.extend_from_slice(&extra);
        let out = hale(tmp.path(), engine, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{what}: {err}");
        assert!(lines[0].contains(says), "{what}: {err}");
        assert!(!dir.join(".hale").exists(), "{what}: nothing written");
    }
    assert!(labelled(&host, &format!("dev.hale.service={name}")).is_empty());
    // --image without --runtime docker is a usage error too.
    let out = hale(tmp.path(), &host, &["up", &dir_text, "--image", "x:1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Containers reach Consul (and etcd alike) over loopback through host networking: they
/// register themselves there, and leave it when `hale down` stops them gracefully.
#[test]
fn containers_register_in_consul_over_loopback_and_leave_it_on_down() {
    let consul = need!(Consul);
    need!(Go);
    let host = need!(Docker);
    let tmp = common::tempdir();
    let (dir, name, _cleanup, build) = built_service(tmp.path(), &host, "consul");
    let dir_text = dir.display().to_string();
    let reference = build["reference"].as_str().unwrap().to_string();
    let registry = format!("consul://{consul}");
    let up = hale_json(
        tmp.path(),
        &host,
        &[
            "up",
            &dir_text,
            "--runtime",
            "docker",
            "--image",
            &reference,
            "--replicas",
            "2",
            "--registry",
            &registry,
        ],
    );
    let want: Vec<String> = (1..=2).map(|n| format!("{name}-{n}")).collect();
    assert_eq!(up["runtime"], "docker");
    assert_eq!(wait_discovered(tmp.path(), &name, &registry, &want), want);
    let down = hale_json(tmp.path(), &host, &["down", &dir_text]);
    assert_eq!(
        down["deregistered_by_hale"],
        serde_json::json!([]),
        "{down}"
    );
    assert!(discovered(tmp.path(), &name, &registry).is_empty());
    assert!(labelled(&host, &format!("dev.hale.service={name}")).is_empty());
}
