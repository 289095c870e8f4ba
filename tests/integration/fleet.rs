//! `hale up`, `ps` and `down` on a real generated service (built with the Go toolchain), its
//! instances registering themselves in the file registry, Consul and etcd.
use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

fn hale_json(tmp: &Path, args: &[&str]) -> Value {
    let out = common::hale(tmp)
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    common::assert_success(&out, &format!("hale {args:?}"));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A fresh service from `hale new`, named uniquely so shared registries never mix runs.
fn new_service(tmp: &Path, tag: &str) -> (String, PathBuf) {
    let name = format!("f{}{tag}", std::process::id());
    let dir = tmp.join(&name);
    common::scaffold(tmp, &name, &dir);
    (name, dir)
}

/// The status of a plain HTTP/1.0 GET.
fn http_status(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn pid_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next())
        })
        .is_some_and(|state| !matches!(state, Some('Z' | 'X')))
}

fn discovered_ids(tmp: &Path, name: &str, registry: &[&str]) -> Vec<String> {
    let mut args = vec!["discover", name];
    args.extend_from_slice(registry);
    hale_json(tmp, &args)["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// Poll discovery until it lists exactly `want` (bounded).
fn wait_discovered(tmp: &Path, name: &str, registry: &[&str], want: &[String]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let ids = discovered_ids(tmp, name, registry);
        if ids == want || start.elapsed() > Duration::from_secs(60) {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The whole life of a fleet: up 3 → discover 3 healthy → ps → scale to 2 → down → nothing left.
fn fleet_life(tmp: &Path, tag: &str, registry: Option<String>) {
    let (name, dir) = new_service(tmp, tag);
    let dir_text = dir.display().to_string();
    let reg_flag: Vec<String> = registry
        .iter()
        .flat_map(|r| ["--registry".to_string(), r.clone()])
        .collect();
    let reg: Vec<&str> = reg_flag.iter().map(String::as_str).collect();

    let mut up_args = vec!["up", dir_text.as_str(), "--replicas", "3"];
    up_args.extend_from_slice(&reg);
    let up = hale_json(tmp, &up_args);
    assert_eq!(up["schema"], "hale.up/v1");
    assert_eq!(up["service"], name.as_str());
    let want: Vec<String> = (1..=3).map(|n| format!("{name}-{n}")).collect();
    let pids: Vec<u64> = up["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(dir.join(".hale/fleet.json").is_file());

    assert_eq!(
        wait_discovered(tmp, &name, &reg, &want),
        want,
        "hale discover must list 3 healthy instances"
    );

    let ps = hale_json(tmp, &["ps", &dir_text]);
    assert_eq!(ps["schema"], "hale.ps/v1");
    for row in ps["instances"].as_array().unwrap() {
        assert_eq!(row["alive"], true, "{row}");
        assert_eq!(row["healthz"], 200, "{row}");
        assert_eq!(row["readyz"], 200, "{row}");
    }

    // Re-running on a running fleet adjusts it to --replicas.
    let mut scale_args = vec!["up", dir_text.as_str(), "--replicas", "2"];
    scale_args.extend_from_slice(&reg);
    let scaled = hale_json(tmp, &scale_args);
    assert_eq!(scaled["stopped"], serde_json::json!([format!("{name}-3")]));
    assert_eq!(scaled["kept"].as_array().unwrap().len(), 2);
    assert!(!pid_alive(pids[2]));
    assert_eq!(
        wait_discovered(tmp, &name, &reg, &want[..2]),
        want[..2].to_vec()
    );

    let down = hale_json(tmp, &["down", &dir_text]);
    assert_eq!(down["schema"], "hale.down/v1");
    assert_eq!(down["stopped"].as_array().unwrap().len(), 2);
    for s in down["stopped"].as_array().unwrap() {
        assert_eq!(s["how"], "sigterm", "graceful stop expected: {s}");
    }
    assert!(
        !dir.join(".hale").exists(),
        "hale down must leave no .hale behind"
    );
    for pid in &pids {
        assert!(
            !pid_alive(*pid),
            "process {pid} still running after hale down"
        );
    }
    assert!(
        discovered_ids(tmp, &name, &reg).is_empty(),
        "instances left in the registry"
    );
}

#[test]
fn up_three_replicas_in_default_file_registry_then_down_leaves_nothing() {
    need!(Go);
    let tmp = common::tempdir();
    fleet_life(tmp.path(), "file", None);
}

#[test]
fn up_three_replicas_in_consul_then_down_leaves_nothing() {
    let consul = need!(Consul);
    need!(Go);
    let tmp = common::tempdir();
    fleet_life(tmp.path(), "consul", Some(format!("consul://{consul}")));
}

#[test]
fn up_three_replicas_in_etcd_then_down_leaves_nothing() {
    let etcd = need!(Etcd);
    need!(Go);
    let tmp = common::tempdir();
    fleet_life(tmp.path(), "etcd", Some(format!("etcd://{etcd}")));
}

#[test]
fn killed_instance_leaves_discovery_and_restore_brings_it_back() {
    need!(Go);
    let tmp = common::tempdir();
    let (name, dir) = new_service(tmp.path(), "kill");
    let dir_text = dir.display().to_string();
    let registry = format!("file://{}", tmp.path().join("reg.json").display());
    hale_json(
        tmp.path(),
        &["up", &dir_text, "--replicas", "2", "--registry", &registry],
    );
    let both = vec![format!("{name}-1"), format!("{name}-2")];
    let reg = ["--registry", registry.as_str()];
    assert_eq!(wait_discovered(tmp.path(), &name, &reg, &both), both);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(hale::fleet::kill_instance(&dir, &both[0]))
        .unwrap();
    let state = hale::fleet::FleetState::load(&dir).unwrap();
    assert!(!pid_alive(state.instance(&both[0]).unwrap().pid as u64));
    // A SIGKILLed instance cannot deregister: it leaves once its TTL (10 s) runs out.
    assert_eq!(
        wait_discovered(tmp.path(), &name, &reg, &both[1..]),
        both[1..].to_vec()
    );
    let ps = hale_json(tmp.path(), &["ps", &dir_text]);
    assert_eq!(ps["instances"][0]["alive"], false);

    rt.block_on(hale::fleet::restore_instance(&dir, &both[0]))
        .unwrap();
    assert_eq!(wait_discovered(tmp.path(), &name, &reg, &both), both);
    let restored = hale::fleet::FleetState::load(&dir).unwrap();
    assert_eq!(
        restored.instance(&both[0]).unwrap().port,
        state.instance(&both[0]).unwrap().port,
        "restored on the same port"
    );

    let addr = restored.instance(&both[1]).unwrap().socket_addr();
    let admin = restored.instance(&both[1]).unwrap().admin_addr();
    assert_ne!(admin, addr, "the admin API has its own listener");
    let faults = hale::fleet::Faults {
        error_rate: 1.0,
        latency: Duration::ZERO,
    };
    assert!(
        rt.block_on(hale::fleet::set_faults(addr, &faults)).is_err(),
        "the traffic port serves no admin API"
    );
    rt.block_on(hale::fleet::set_faults(
        admin,
        &hale::fleet::Faults {
            error_rate: 1.0,
            latency: Duration::ZERO,
        },
    ))
    .unwrap();
    assert_eq!(
        http_status(addr, "/"),
        Some(503),
        "error rate 1.0 fails every request"
    );
    assert_eq!(
        http_status(addr, "/healthz"),
        Some(200),
        "health is exempt from faults"
    );

    let down = common::hale(tmp.path())
        .args(["down", &dir_text])
        .output()
        .unwrap();
    common::assert_success(&down, "hale down");
    assert!(!dir.join(".hale").exists());
}

#[test]
fn up_without_hale_toml_is_a_usage_error_and_writes_nothing() {
    let tmp = common::tempdir();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = common::hale(tmp.path())
        .args(["up"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no service name"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(common::tree(&empty).is_empty());
}

#[test]
fn ps_and_down_without_a_fleet_say_so_and_succeed() {
    let tmp = common::tempdir();
    for cmd in ["ps", "down"] {
        let out = common::hale(tmp.path())
            .arg(cmd)
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no fleet"));
    }
}

/// The other direction of the file-registry contract: an entry `hale register` wrote is found
/// by the generated Go service's own discovery (DOWNSTREAM_REGISTRY) and called.
#[test]
fn generated_service_calls_an_instance_hale_registered_in_the_file_registry() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    need!(Go);
    let tmp = common::tempdir();
    let (name, dir) = new_service(tmp.path(), "interop");
    let binary = tmp.path().join("svc");
    let built = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(format!("./cmd/{name}"))
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(built.success());

    // The downstream: counts the requests it serves.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let registry = format!("file://{}", tmp.path().join("reg.json").display());
    let out = common::hale(tmp.path())
        .args([
            "register",
            "--once",
            "--registry",
            &registry,
            "--name",
            "backend",
            "--ttl",
            "60s",
        ])
        .args(["--address", &backend.to_string()])
        .output()
        .unwrap();
    common::assert_success(&out, "hale register");

    let port = common::free_port();
    let mut service = std::process::Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DOWNSTREAM_SERVICE", "backend")
        .env("DOWNSTREAM_REGISTRY", &registry)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    let mut status = None;
    while start.elapsed() < Duration::from_secs(60) {
        status = http_status(addr, "/v1/downstream");
        if status == Some(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(
        status,
        Some(200),
        "GET /v1/downstream never reached the hale-registered backend"
    );
    assert!(hits.load(Ordering::SeqCst) > 0);
}

#[test]
fn sigint_during_the_readiness_wait_stops_the_started_instances_and_exits_130() {
    use std::io::BufRead as _;
    need!(Go);
    // A service that never turns ready: `hale up` waits on /readyz until it is stopped.
    let tmp = common::tempdir();
    let dir = tmp.path().join("never");
    std::fs::create_dir_all(dir.join("cmd/never")).unwrap();
    std::fs::write(dir.join("hale.toml"), "name = \"never\"\n").unwrap();
    std::fs::write(dir.join("go.mod"), "module never\n\ngo 1.21\n").unwrap();
    std::fs::write(
        dir.join("cmd/never/main.go"),
        r#"package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	_ = http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
"#,
    )
    .unwrap();
    let mut child = common::hale(tmp.path())
        .args(["up", dir.to_str().unwrap(), "--replicas", "2"])
        .args(["--ready-timeout", "10m"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut pids = Vec::new();
    let mut seen = String::new();
    while pids.len() < 2 {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "hale up ended early: {seen}"
        );
        seen.push_str(&line);
        if let Some(pid) = line
            .trim()
            .strip_suffix(')')
            .and_then(|l| l.rsplit_once("(pid "))
        {
            pids.push(pid.1.parse::<u64>().unwrap());
        }
    }
    assert!(pids.iter().all(|&p| pid_alive(p)), "{seen}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("Stopped never-1"), "{rest}");
    for pid in pids {
        assert!(
            !pid_alive(pid),
            "instance pid {pid} still runs after hale up was stopped"
        );
    }
    assert!(!hale::fleet::FleetState::path(&dir).exists());
}

#[test]
fn sigterm_during_the_readiness_wait_stops_the_started_instances_within_two_seconds() {
    use std::io::BufRead as _;
    need!(Go);
    // A service that never turns ready: `hale up` waits on /readyz until it is stopped.
    let tmp = common::tempdir();
    let dir = tmp.path().join("never");
    std::fs::create_dir_all(dir.join("cmd/never")).unwrap();
    std::fs::write(dir.join("hale.toml"), "name = \"never\"\n").unwrap();
    std::fs::write(dir.join("go.mod"), "module never\n\ngo 1.21\n").unwrap();
    std::fs::write(
        dir.join("cmd/never/main.go"),
        r#"package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	_ = http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
"#,
    )
    .unwrap();
    let mut child = common::hale(tmp.path())
        .args(["up", dir.to_str().unwrap(), "--replicas", "2"])
        .args(["--ready-timeout", "10m"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut pids = Vec::new();
    let mut seen = String::new();
    while pids.len() < 2 {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "hale up ended early: {seen}"
        );
        seen.push_str(&line);
        if let Some(pid) = line
            .trim()
            .strip_suffix(')')
            .and_then(|l| l.rsplit_once("(pid "))
        {
            pids.push(pid.1.parse::<u64>().unwrap());
        }
    }
    assert!(pids.iter().all(|&p| pid_alive(p)), "{seen}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let sent = std::time::Instant::now();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("Stopped never-1"), "{rest}");
    for pid in pids {
        assert!(
            !pid_alive(pid),
            "instance pid {pid} still runs after hale up was stopped"
        );
    }
    assert!(!hale::fleet::FleetState::path(&dir).exists());
}

/// `hale up` and `hale down` hold an flock on .hale/fleet.lock while they change the fleet; a
/// second one in the same folder refuses with one line naming the holder's pid. Here the test
/// itself holds that lock (the same flock a running `hale up` takes), so nothing depends on
/// how long a real `hale up` takes.
#[test]
fn up_and_down_refuse_while_another_holds_the_fleet_lock() {
    use std::io::Write as _;
    need!(Go);
    let tmp = common::tempdir();
    let (_name, dir) = new_service(tmp.path(), "lock");
    std::fs::create_dir_all(dir.join(".hale")).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join(".hale/fleet.lock"))
        .unwrap();
    let mut held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    writeln!(held, "{}", std::process::id()).unwrap();
    for cmd in ["up", "down"] {
        let out = common::hale(tmp.path())
            .arg(cmd)
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "hale {cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "hale {cmd}: {err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "hale {cmd}: {err}"
        );
    }
    assert!(!dir.join(".hale/fleet.json").exists(), "nothing started");
    drop(held);
    let out = common::hale(tmp.path())
        .arg("up")
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale up after the lock is free");
    let out = common::hale(tmp.path())
        .arg("down")
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale down");
    assert!(
        !dir.join(".hale").exists(),
        "down leaves no lock file behind"
    );
}

/// `discover` (on the default embedded file registry) and `ps` read only: they leave no file
/// and no folder behind, not even the state folder or the registry's lock file.
#[test]
fn read_only_commands_create_nothing_and_a_missing_folder_is_a_usage_error() {
    let tmp = common::tempdir();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for args in [
        &["discover", "orders"][..],
        &["ps"],
        &["ps", "--output", "json"],
    ] {
        let out = common::hale(tmp.path())
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "work")
            .collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
        assert!(
            common::tree(&work).is_empty(),
            "{args:?} wrote into the folder"
        );
    }
    let missing = tmp.path().join("no-such-folder");
    for cmd in ["ps", "down", "up"] {
        let out = common::hale(tmp.path())
            .arg(cmd)
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "hale {cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "hale {cmd}: {err}");
        assert!(err.contains("no-such-folder"), "hale {cmd}: {err}");
        assert!(!missing.exists(), "hale {cmd} created the folder");
    }
}

/// `hale new` and `hale templates export` share the target check; its refusal names no flag
/// that one of them lacks (`templates export` takes a DIR argument, not `--dir`).
#[test]
fn a_non_empty_target_is_refused_in_words_both_commands_understand() {
    let tmp = common::tempdir();
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let runs: [&[&str]; 2] = [
        &["templates", "export"],
        &["new", "orders", "--no-tidy", "--dir"],
    ];
    for args in runs {
        let out = common::hale(tmp.path())
            .args(args)
            .arg(&full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("not empty") && err.contains("--force"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("--dir"), "{args:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(full.join("keep.txt")).unwrap(),
            "mine"
        );
    }
}

/// `hale load`'s kill and restore faults take the fleet lock as `hale up` and `hale down` do:
/// while another holds it (here the test, with the same flock a running `hale down` takes),
/// the kill is refused — reported as a failed fault naming the holder — and the instance runs
/// on. Once the lock is free, the same fault kills it.
#[test]
fn a_kill_fault_is_refused_while_the_fleet_is_locked_and_kills_once_it_is_free() {
    use std::io::Write as _;
    need!(Go);
    let tmp = common::tempdir();
    let (name, dir) = new_service(tmp.path(), "flock");
    let dir_text = dir.display().to_string();
    let up = hale_json(tmp.path(), &["up", &dir_text, "--replicas", "2"]);
    let victim = format!("{name}-2");
    let pid = up["instances"][1]["pid"].as_u64().unwrap();
    let load = |fault: &str| {
        let out = common::hale(tmp.path())
            .args(["load", &name, "--output", "json", "-c", "2", "-d", "3s"])
            .args(["--fleet", &dir_text, "--fault", fault])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "fault" || e["kind"] == "fault-failed")
            .cloned()
            .collect::<Vec<Value>>()
    };

    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(".hale/fleet.lock"))
        .unwrap();
    let mut held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| e)
        .unwrap();
    held.set_len(0).unwrap();
    writeln!(held, "{}", std::process::id()).unwrap();
    let events = load(&format!("at=1s,kill={victim}"));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "fault-failed", "{events:?}");
    let detail = events[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {}", std::process::id())),
        "{detail}"
    );
    assert!(pid_alive(pid), "the locked fleet's instance was killed");
    drop(held);

    let events = load(&format!("at=1s,kill={victim}"));
    assert_eq!(events[0]["kind"], "fault", "{events:?}");
    assert!(
        !pid_alive(pid),
        "the kill went through once the lock was free"
    );
    let down = common::hale(tmp.path())
        .args(["down", &dir_text])
        .output()
        .unwrap();
    common::assert_success(&down, "hale down");
}
