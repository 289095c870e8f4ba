//! `hale register`, `deregister` and `discover` against the real Consul, etcd and the file
//! registry, checked through each registry's own view (Consul's HTTP API, `etcdctl`, the file).
//!
//! Restart tests start a PRIVATE etcd / `consul agent -dev` on free ports with temporary data
//! folders: the shared servers are never stopped.
use crate::common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A unique service name per test and run, so tests never see each other's instances.
fn unique(tag: &str) -> String {
    format!("rt{}-{tag}", std::process::id())
}

/// A tiny HTTP server on 127.0.0.1 answering 200 to everything: the instance being registered
/// really serves its health path, so Consul's HTTP check passes.
struct HealthServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HealthServer {
    fn start() -> HealthServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        HealthServer { port, stop }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A child process killed when the test ends, whatever happens.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Plain HTTP/1.0 GET (no client library needed): status and body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn http_json(addr: &str, path: &str) -> Value {
    match http_get(addr, path) {
        Some((200, body)) => serde_json::from_str(&body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Poll `check` every 100 ms until it holds or `limit` passes; the time it took, if it held.
fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if check() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn etcdctl_get_prefix(endpoint: &str, prefix: &str) -> String {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            endpoint,
            "--dial-timeout=2s",
            "--command-timeout=3s",
            "get",
            "--prefix",
            prefix,
        ])
        .output()
        .expect("etcdctl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn consul_agent_has(addr: &str, id: &str) -> bool {
    http_json(addr, "/v1/agent/services").get(id).is_some()
}

fn consul_check_status(addr: &str, check_id: &str) -> Option<String> {
    http_json(addr, "/v1/agent/checks")
        .get(check_id)
        .and_then(|c| c["Status"].as_str().map(str::to_string))
}

/// `hale register` in the foreground, as a user runs it.
fn spawn_register(tmp: &Path, registry: &str, name: &str, address: &str, extra: &[&str]) -> Guard {
    let child = common::hale(tmp)
        .args([
            "register",
            "--registry",
            registry,
            "--name",
            name,
            "--address",
            address,
            "--check",
            "/healthz",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Guard(child)
}

fn sigterm(guard: &mut Guard) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(guard.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "hale register did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigkill(guard: &mut Guard) {
    guard.0.kill().unwrap();
    guard.0.wait().unwrap();
}

fn discover_json(tmp: &Path, registry: &str, name: &str, extra: &[&str]) -> Value {
    let out = common::hale(tmp)
        .args(["discover", name, "--registry", registry, "--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    common::assert_success(&out, "discover");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(doc: &Value) -> Vec<String> {
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_one_line(out: &Output, code: i32, needle: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

// ---------------------------------------------------------------------------------------------
// Input errors and unreachable registries

#[test]
fn bad_registry_url_is_one_line_naming_the_accepted_forms_and_exit_2() {
    let tmp = common::tempdir();
    for bad in [
        "http://127.0.0.1:8500",
        "consul://",
        "etcd://127.0.0.1",
        "zookeeper://h:1",
    ] {
        let out = common::hale(tmp.path())
            .args(["discover", "orders", "--registry", bad])
            .output()
            .unwrap();
        assert_one_line(
            &out,
            2,
            "consul://host:port, etcd://host:port or file://PATH",
        );
        let out = common::hale(tmp.path())
            .args([
                "register",
                "--registry",
                bad,
                "--name",
                "orders",
                "--address",
                "127.0.0.1:1",
                "--once",
            ])
            .output()
            .unwrap();
        assert_one_line(&out, 2, "bad registry URL");
    }
    assert!(
        common::tree(tmp.path()).is_empty(),
        "nothing may be written"
    );
}

#[test]
fn bad_register_flags_are_usage_errors() {
    let tmp = common::tempdir();
    for (flags, needle) in [
        (
            vec!["--name", "a/b", "--address", "127.0.0.1:1"],
            "bad service name",
        ),
        (
            vec!["--name", "orders", "--address", "127.0.0.1"],
            "for '--address <HOST:PORT>': \"127.0.0.1\" is not an address: no port",
        ),
        (
            vec![
                "--name",
                "orders",
                "--address",
                "127.0.0.1:1",
                "--meta",
                "novalue",
            ],
            "bad --meta",
        ),
        (
            vec![
                "--name",
                "orders",
                "--address",
                "127.0.0.1:1",
                "--id",
                "../x",
            ],
            "bad instance id",
        ),
        (
            vec![
                "--name",
                "orders",
                "--address",
                "127.0.0.1:1",
                "--layout",
                "kratos",
            ],
            "only exists for etcd",
        ),
    ] {
        let out = common::hale(tmp.path())
            .args(["register", "--once"])
            .args(&flags)
            .output()
            .unwrap();
        assert_one_line(&out, 2, needle);
    }
}

#[test]
fn unreachable_registry_is_one_line_and_exit_1() {
    let tmp = common::tempdir();
    for url in ["consul://127.0.0.1:1", "etcd://127.0.0.1:1"] {
        let out = common::hale(tmp.path())
            .args(["discover", "orders", "--registry", url])
            .output()
            .unwrap();
        assert_one_line(&out, 1, "is unreachable");
        let out = common::hale(tmp.path())
            .args([
                "register",
                "--registry",
                url,
                "--name",
                "orders",
                "--address",
                "127.0.0.1:9",
            ])
            .output()
            .unwrap();
        assert_one_line(&out, 1, "is unreachable");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips through each registry's own view

#[test]
fn file_register_discover_deregister_round_trip_in_default_registry() {
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let name = unique("file");
    let file = tmp.path().join("state/registry.json");
    let mut reg = common::hale(tmp.path())
        .args([
            "register",
            "--name",
            &name,
            "--address",
            &health.address(),
            "--id",
            "f1",
            "--meta",
            "version=1.0.0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Guard)
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || std::fs::read_to_string(&file)
            .is_ok_and(|t| t.contains("\"f1\"")))
        .is_some(),
        "the default file registry never got the instance"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let entry = &doc["instances"][0];
    assert_eq!(doc["version"], 1);
    assert_eq!(entry["name"], name.as_str());
    assert_eq!(entry["port"], health.port);
    assert_eq!(entry["check"], "/healthz");
    assert_eq!(entry["ttl_ms"], 10000);
    assert_eq!(entry["meta"]["version"], "1.0.0");

    let found = common::hale(tmp.path())
        .args(["discover", &name])
        .output()
        .unwrap();
    assert!(found.status.success());
    assert!(
        String::from_utf8_lossy(&found.stdout).contains(&format!("f1  127.0.0.1:{}", health.port))
    );

    let status = sigterm(&mut reg);
    assert_eq!(
        status.code(),
        Some(130),
        "a stopped registration deregisters and exits 130"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["instances"].as_array().unwrap().len(), 0);
}

#[test]
fn consul_register_discover_deregister_round_trip() {
    let consul = need!(Consul);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let name = unique("consul");
    let url = format!("consul://{consul}");
    let mut reg = spawn_register(
        tmp.path(),
        &url,
        &name,
        &health.address(),
        &["--tag", "blue", "--meta", "weight=3"],
    );
    let id = format!("{name}-127-0-0-1-{}", health.port);
    assert!(
        wait_for(Duration::from_secs(10), || consul_agent_has(&consul, &id)).is_some(),
        "not in /v1/agent/services"
    );
    let service = &http_json(&consul, "/v1/agent/services")[&id];
    assert_eq!(service["Service"], name.as_str());
    assert_eq!(service["Port"], health.port);
    assert_eq!(service["Tags"][0], "blue");
    assert_eq!(service["Meta"]["weight"], "3");
    // Both checks exist; the HTTP one passes once Consul has probed the health server.
    let passing = wait_for(Duration::from_secs(15), || {
        consul_check_status(&consul, &format!("{id}:http")).as_deref() == Some("passing")
            && consul_check_status(&consul, &format!("{id}:ttl")).as_deref() == Some("passing")
    });
    assert!(
        passing.is_some(),
        "checks never passed: {:?}",
        http_json(&consul, "/v1/agent/checks")
    );
    let health_view = http_json(&consul, &format!("/v1/health/service/{name}?passing"));
    assert_eq!(health_view.as_array().map(Vec::len), Some(1));

    let doc = discover_json(tmp.path(), &url, &name, &[]);
    assert_eq!(doc["schema"], "hale.discover/v1");
    assert_eq!(ids(&doc), vec![id.clone()]);
    assert_eq!(doc["instances"][0]["check"], "/healthz");

    assert_eq!(sigterm(&mut reg).code(), Some(130));
    assert!(
        !consul_agent_has(&consul, &id),
        "still registered after SIGTERM"
    );
}

#[test]
fn etcd_register_discover_deregister_round_trip() {
    let etcd = need!(Etcd);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let name = unique("etcd");
    let url = format!("etcd://{etcd}");
    let mut reg = spawn_register(tmp.path(), &url, &name, &health.address(), &["--id", "e1"]);
    let prefix = format!("/hale/services/{name}/");
    assert!(
        wait_for(Duration::from_secs(10), || etcdctl_get_prefix(
            &etcd, &prefix
        )
        .contains("e1"))
        .is_some(),
        "etcdctl does not see the key"
    );
    let listing = etcdctl_get_prefix(&etcd, &prefix);
    let mut lines = listing.lines();
    assert_eq!(lines.next(), Some(format!("{prefix}e1").as_str()));
    let value: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(value["address"], "127.0.0.1");
    assert_eq!(value["port"], health.port);
    assert_eq!(value["check"], "/healthz");

    let doc = discover_json(tmp.path(), &url, &name, &[]);
    assert_eq!(ids(&doc), vec!["e1"]);

    assert_eq!(sigterm(&mut reg).code(), Some(130));
    assert_eq!(
        etcdctl_get_prefix(&etcd, &prefix),
        "",
        "key left behind after SIGTERM"
    );
}

#[test]
fn register_once_then_deregister_removes_the_entry() {
    let etcd = need!(Etcd);
    let tmp = common::tempdir();
    let name = unique("once");
    let url = format!("etcd://{etcd}");
    let out = common::hale(tmp.path())
        .args([
            "register",
            "--once",
            "--registry",
            &url,
            "--name",
            &name,
            "--address",
            "127.0.0.1:9",
            "--id",
            "o1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "o1");
    assert!(etcdctl_get_prefix(&etcd, &format!("/hale/services/{name}/")).contains("o1"));
    let out = common::hale(tmp.path())
        .args([
            "deregister",
            "--registry",
            &url,
            "--name",
            &name,
            "--id",
            "o1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        etcdctl_get_prefix(&etcd, &format!("/hale/services/{name}/")),
        ""
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicate ids

fn assert_duplicate_refused(tmp: &Path, url: &str, name: &str) {
    let register = |port: &str, replace: bool| {
        common::hale(tmp)
            .args([
                "register",
                "--once",
                "--registry",
                url,
                "--name",
                name,
                "--id",
                "dup",
                "--ttl",
                "30s",
            ])
            .args(["--address", &format!("127.0.0.1:{port}")])
            .args(replace.then_some("--replace"))
            .output()
            .unwrap()
    };
    let first = register("9", false);
    assert!(first.status.success(), "{}", stderr_of(&first));
    let second = register("10", false);
    assert_one_line(
        &second,
        2,
        "already registered by another live instance at 127.0.0.1:9",
    );
    // The holder is untouched.
    let doc = discover_json(tmp, url, name, &[]);
    if let Some(first) = doc["instances"].as_array().unwrap().first() {
        assert_eq!(first["port"], 9);
    }
    // --replace takes the id over.
    let third = register("10", true);
    assert!(third.status.success(), "{}", stderr_of(&third));
    let doc = discover_json(tmp, url, name, &[]);
    if let Some(first) = doc["instances"].as_array().unwrap().first() {
        assert_eq!(first["port"], 10);
    }
    let out = common::hale(tmp)
        .args([
            "deregister",
            "--registry",
            url,
            "--name",
            name,
            "--id",
            "dup",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn duplicate_id_is_refused_with_one_line_and_exit_2() {
    let tmp = common::tempdir();
    let file = format!("file://{}", tmp.path().join("r.json").display());
    assert_duplicate_refused(tmp.path(), &file, &unique("dupf"));
    if let Some(etcd) = common::service(common::Service::Etcd) {
        assert_duplicate_refused(tmp.path(), &format!("etcd://{etcd}"), &unique("dupe"));
    }
    if let Some(consul) = common::service(common::Service::Consul) {
        assert_duplicate_refused(tmp.path(), &format!("consul://{consul}"), &unique("dupc"));
    }
}

// ---------------------------------------------------------------------------------------------
// A registrar that dies

#[test]
fn sigkill_expires_etcd_lease_within_ttl_plus_1s() {
    let etcd = need!(Etcd);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let name = unique("killetcd");
    let prefix = format!("/hale/services/{name}/");
    let mut reg = spawn_register(
        tmp.path(),
        &format!("etcd://{etcd}"),
        &name,
        &health.address(),
        &["--ttl", "2s"],
    );
    assert!(wait_for(Duration::from_secs(10), || !etcdctl_get_prefix(
        &etcd, &prefix
    )
    .is_empty())
    .is_some());
    sigkill(&mut reg);
    let gone = wait_for(Duration::from_secs(3), || {
        etcdctl_get_prefix(&etcd, &prefix).is_empty()
    });
    assert!(
        gone.is_some(),
        "key still there 3 s (TTL + 1 s) after SIGKILL"
    );
}

#[test]
fn sigkill_turns_consul_ttl_check_critical_within_ttl_plus_1s() {
    let consul = need!(Consul);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let name = unique("killconsul");
    let url = format!("consul://{consul}");
    let id = format!("{name}-127-0-0-1-{}", health.port);
    let mut reg = spawn_register(tmp.path(), &url, &name, &health.address(), &["--ttl", "2s"]);
    assert!(wait_for(Duration::from_secs(10), || {
        consul_check_status(&consul, &format!("{id}:ttl")).as_deref() == Some("passing")
    })
    .is_some());
    sigkill(&mut reg);
    let critical = wait_for(Duration::from_secs(3), || {
        consul_check_status(&consul, &format!("{id}:ttl")).as_deref() == Some("critical")
    });
    assert!(
        critical.is_some(),
        "TTL check not critical 3 s (TTL + 1 s) after SIGKILL"
    );
    // The instance is gone from discovery too.
    assert!(ids(&discover_json(tmp.path(), &url, &name, &[])).is_empty());
    let out = common::hale(tmp.path())
        .args([
            "deregister",
            "--registry",
            &url,
            "--name",
            &name,
            "--id",
            &id,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

// ---------------------------------------------------------------------------------------------
// The registry restarts under a registered instance (private servers only)

struct PrivateEtcd {
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    log: PathBuf,
    child: Option<Guard>,
}

impl PrivateEtcd {
    fn new(root: &Path) -> PrivateEtcd {
        PrivateEtcd {
            client_port: common::free_port(),
            peer_port: common::free_port(),
            data: root.join("etcd-data"),
            log: root.join("etcd.log"),
            child: None,
        }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn start(&mut self) -> Instant {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("etcd")
            .args(["--name", "hale-test", "--data-dir"])
            .arg(&self.data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("hale-test={peer}")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(Guard(child));
        let endpoint = self.endpoint();
        let up = wait_for(Duration::from_secs(20), || {
            http_get(&endpoint, "/health").is_some_and(|(s, b)| s == 200 && b.contains("true"))
        });
        assert!(
            up.is_some(),
            "private etcd did not start; see {}",
            self.log.display()
        );
        Instant::now()
    }

    fn stop(&mut self) {
        drop(self.child.take());
    }
}

#[test]
fn etcd_restart_reregisters_within_5s_of_its_return() {
    need!(Etcd);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let mut etcd = PrivateEtcd::new(tmp.path());
    etcd.start();
    let name = unique("etcdrestart");
    let prefix = format!("/hale/services/{name}/");
    let mut reg = spawn_register(
        tmp.path(),
        &format!("etcd://{}", etcd.endpoint()),
        &name,
        &health.address(),
        &["--ttl", "2s"],
    );
    assert!(wait_for(Duration::from_secs(10), || !etcdctl_get_prefix(
        &etcd.endpoint(),
        &prefix
    )
    .is_empty())
    .is_some());

    // Down long enough for heartbeats to fail, and the data wiped: the old lease and key are
    // gone for good, so only a new registration can bring the instance back.
    etcd.stop();
    std::thread::sleep(Duration::from_secs(3));
    std::fs::remove_dir_all(&etcd.data).unwrap();
    let back = etcd.start();
    let seen = wait_for(Duration::from_secs(5), || {
        !etcdctl_get_prefix(&etcd.endpoint(), &prefix).is_empty()
    });
    assert!(
        seen.is_some(),
        "not registered again within 5 s of etcd's return ({:?} so far)",
        back.elapsed()
    );
    assert!(
        reg.0.try_wait().unwrap().is_none(),
        "hale register must survive the outage"
    );
    assert_eq!(sigterm(&mut reg).code(), Some(130));
    assert_eq!(etcdctl_get_prefix(&etcd.endpoint(), &prefix), "");
}

struct PrivateConsul {
    http_port: u16,
    ports: [u16; 3],
    log: PathBuf,
    child: Option<Guard>,
}

impl PrivateConsul {
    fn new(root: &Path) -> PrivateConsul {
        PrivateConsul {
            http_port: common::free_port(),
            ports: [
                common::free_port(),
                common::free_port(),
                common::free_port(),
            ],
            log: root.join("consul.log"),
            child: None,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.http_port)
    }

    fn start(&mut self) -> Instant {
        let [serf_lan, serf_wan, server] = self.ports;
        let hcl = format!(
            "ports {{ http = {} dns = -1 grpc = -1 serf_lan = {serf_lan} serf_wan = {serf_wan} server = {server} }}",
            self.http_port
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("consul")
            .args([
                "agent",
                "-dev",
                "-bind",
                "127.0.0.1",
                "-client",
                "127.0.0.1",
            ])
            .args([
                "-node",
                &format!("hale-test-{}", self.http_port),
                "-hcl",
                &hcl,
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(Guard(child));
        let addr = self.addr();
        let up = wait_for(Duration::from_secs(30), || {
            http_get(&addr, "/v1/status/leader").is_some_and(|(s, b)| s == 200 && b.contains(':'))
        });
        assert!(
            up.is_some(),
            "private consul did not start; see {}",
            self.log.display()
        );
        Instant::now()
    }

    fn stop(&mut self) {
        drop(self.child.take());
    }
}

#[test]
fn consul_restart_reregisters_within_5s_of_its_return() {
    need!(Consul);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let mut consul = PrivateConsul::new(tmp.path());
    consul.start();
    let name = unique("consulrestart");
    let id = format!("{name}-127-0-0-1-{}", health.port);
    let mut reg = spawn_register(
        tmp.path(),
        &format!("consul://{}", consul.addr()),
        &name,
        &health.address(),
        &["--ttl", "3s"],
    );
    assert!(wait_for(Duration::from_secs(10), || consul_agent_has(
        &consul.addr(),
        &id
    ))
    .is_some());

    // A dev agent keeps nothing across restarts: the service must be registered anew.
    consul.stop();
    std::thread::sleep(Duration::from_secs(2));
    let back = consul.start();
    let seen = wait_for(Duration::from_secs(5), || {
        consul_agent_has(&consul.addr(), &id)
    });
    assert!(
        seen.is_some(),
        "not registered again within 5 s of consul's return ({:?} so far)",
        back.elapsed()
    );
    assert!(
        reg.0.try_wait().unwrap().is_none(),
        "hale register must survive the outage"
    );
    assert_eq!(sigterm(&mut reg).code(), Some(130));
    assert!(!consul_agent_has(&consul.addr(), &id));
}

// ---------------------------------------------------------------------------------------------
// discover --watch

#[test]
fn discover_watch_prints_one_json_line_per_change_until_timeout() {
    use std::io::BufRead as _;
    let tmp = common::tempdir();
    let name = unique("watch");
    let file = format!("file://{}", tmp.path().join("w.json").display());
    let mut watcher = common::hale(tmp.path())
        .args([
            "discover",
            &name,
            "--registry",
            &file,
            "--watch",
            "--timeout",
            "15s",
        ])
        .args(["--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map(Guard)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stdout = watcher.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    let next = || {
        // Generous: each change is made by a hale process, and the machine may be busy.
        rx.recv_timeout(Duration::from_secs(15))
            .expect("a watch line")
    };
    let count = |doc: &Value| doc["instances"].as_array().unwrap().len();
    let hale_ok = |args: &[&str]| {
        let out = common::hale(tmp.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    };

    let first = next();
    assert_eq!(first["schema"], "hale.discover/v1");
    assert_eq!(
        count(&first),
        0,
        "the first line is the current (empty) state"
    );
    hale_ok(&[
        "register",
        "--once",
        "--registry",
        &file,
        "--name",
        &name,
        "--address",
        "127.0.0.1:9",
        "--id",
        "w1",
    ]);
    let added = next();
    assert_eq!(count(&added), 1);
    assert_eq!(added["instances"][0]["id"], "w1");
    hale_ok(&[
        "deregister",
        "--registry",
        &file,
        "--name",
        &name,
        "--id",
        "w1",
    ]);
    assert_eq!(count(&next()), 0);

    let start = Instant::now();
    let status = loop {
        if let Some(status) = watcher.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "--timeout did not end the watch"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "--timeout ends the watch with exit 0");
    assert!(rx.try_recv().is_err(), "no line without a change");
}

// ---------------------------------------------------------------------------------------------
// go-zero and kratos layouts, checked by a Go program using the official etcd client

fn compat_binary(tmp: &Path) -> PathBuf {
    let out = tmp.join("compat");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/compat"))
        .status()
        .unwrap();
    assert!(status.success(), "building tests/integration/compat failed");
    out
}

#[test]
fn go_zero_and_kratos_layouts_interoperate_with_the_etcd_go_client() {
    let etcd = need!(Etcd);
    need!(Go);
    let tmp = common::tempdir();
    let compat = compat_binary(tmp.path());
    let url = format!("etcd://{etcd}");
    let name = unique("layouts");
    let run = |args: &[&str]| {
        let out = Command::new(&compat).args(args).output().unwrap();
        assert!(out.status.success(), "compat {args:?}: {}", stderr_of(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // Go writes, hale reads.
    let lease = run(&["write-gozero", &etcd, &name, "127.0.0.1:9001"]);
    run(&["write-kratos", &etcd, &name, "k1", "127.0.0.1:9002"]);
    let zero = discover_json(tmp.path(), &url, &name, &["--layout", "go-zero"]);
    assert_eq!(ids(&zero), vec![lease.clone()]);
    assert_eq!(zero["instances"][0]["port"], 9001);
    let kratos = discover_json(tmp.path(), &url, &name, &["--layout", "kratos"]);
    assert_eq!(ids(&kratos), vec!["k1"]);
    assert_eq!(kratos["instances"][0]["port"], 9002);
    assert_eq!(kratos["instances"][0]["meta"]["version"], "v1.0.0");
    for (layout, id) in [("go-zero", lease.as_str()), ("kratos", "k1")] {
        let out = common::hale(tmp.path())
            .args([
                "deregister",
                "--registry",
                &url,
                "--layout",
                layout,
                "--name",
                &name,
                "--id",
                id,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    assert_eq!(run(&["read-gozero", &etcd, &name]), "");

    // hale writes, Go reads.
    let zero_id = {
        let out = common::hale(tmp.path())
            .args([
                "register",
                "--once",
                "--registry",
                &url,
                "--layout",
                "go-zero",
                "--name",
                &name,
                "--address",
                "127.0.0.1:9003",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        run(&["read-gozero", &etcd, &name]),
        format!("{name}/{zero_id} 127.0.0.1:9003")
    );
    let out = common::hale(tmp.path())
        .args([
            "register",
            "--once",
            "--registry",
            &url,
            "--layout",
            "kratos",
            "--name",
            &name,
            "--id",
            "k2",
        ])
        .args(["--address", "127.0.0.1:9004", "--meta", "version=v2.0.0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        run(&["read-kratos", &etcd, &name]),
        "k2 http://127.0.0.1:9004 v2.0.0"
    );
    for (layout, id) in [("go-zero", zero_id.as_str()), ("kratos", "k2")] {
        let out = common::hale(tmp.path())
            .args([
                "deregister",
                "--registry",
                &url,
                "--layout",
                layout,
                "--name",
                &name,
                "--id",
                id,
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

// ---------------------------------------------------------------------------------------------
// discovery::follow, the discovery API `hale load` uses

fn follow_round_trip(url: &str, name: &str, port: u16) {
    use hale::discovery::{follow, Instance, Layout, Registry, RegistryUrl};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = RegistryUrl::parse(url).unwrap();
        let registry = Registry::new(&url, Layout::Hale).unwrap();
        let mut rx = follow(&url, name).await.unwrap();
        assert!(rx.borrow().is_empty());
        let instance = Instance {
            name: name.into(),
            id: format!("{name}-1"),
            address: "127.0.0.1".into(),
            port,
            tags: vec![],
            meta: Default::default(),
            check: Some("/healthz".into()),
            ttl: Duration::from_secs(10),
        };
        registry.register(&instance, false).await.unwrap();
        let seen = matches!(
            tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|l| l.len() == 1)).await,
            Ok(Ok(_))
        );
        assert!(seen, "follow never saw the registration");
        assert_eq!(rx.borrow()[0].id, instance.id);
        assert!(registry.deregister(name, &instance.id).await.unwrap());
        let gone = matches!(
            tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|l| l.is_empty())).await,
            Ok(Ok(_))
        );
        assert!(gone, "follow never saw the deregistration");
    });
}

#[test]
fn follow_tracks_registrations_in_etcd_consul_and_file() {
    let tmp = common::tempdir();
    let health = HealthServer::start();
    follow_round_trip(
        &format!("file://{}", tmp.path().join("f.json").display()),
        &unique("followf"),
        health.port,
    );
    if let Some(etcd) = common::service(common::Service::Etcd) {
        follow_round_trip(&format!("etcd://{etcd}"), &unique("followe"), health.port);
    }
    if let Some(consul) = common::service(common::Service::Consul) {
        follow_round_trip(
            &format!("consul://{consul}"),
            &unique("followc"),
            health.port,
        );
    }
}

#[test]
fn follow_on_an_unreachable_registry_is_an_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for url in ["consul://127.0.0.1:1", "etcd://127.0.0.1:1"] {
        let url = hale::discovery::RegistryUrl::parse(url).unwrap();
        let err = rt
            .block_on(hale::discovery::follow(&url, "orders"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
    }
}

#[test]
fn registry_comes_from_flag_then_hale_registry_then_hale_toml_then_default() {
    let tmp = common::tempdir();
    let from = |file: &str| format!("file://{}", tmp.path().join(file).display());
    std::fs::write(
        tmp.path().join("hale.toml"),
        format!("registry = \"{}\"\n", from("toml.json")),
    )
    .unwrap();
    let register = |id: &str, env: Option<String>, flag: Option<String>| {
        let mut cmd = common::hale(tmp.path());
        cmd.current_dir(tmp.path()).args([
            "register",
            "--once",
            "--name",
            "orders",
            "--address",
            "127.0.0.1:9",
            "--id",
            id,
        ]);
        if let Some(env) = env {
            cmd.env("HALE_REGISTRY", env);
        }
        if let Some(flag) = flag {
            cmd.args(["--registry", &flag]);
        }
        assert!(cmd.output().unwrap().status.success());
    };
    register("by-flag", Some(from("env.json")), Some(from("flag.json")));
    register("by-env", Some(from("env.json")), None);
    register("by-toml", None, None);
    std::fs::remove_file(tmp.path().join("hale.toml")).unwrap();
    register("by-default", None, None);
    for (file, id) in [
        ("flag.json", "by-flag"),
        ("env.json", "by-env"),
        ("toml.json", "by-toml"),
        ("state/registry.json", "by-default"),
    ] {
        let text = std::fs::read_to_string(tmp.path().join(file)).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc["instances"].as_array().unwrap().len(),
            1,
            "{file}: {text}"
        );
        assert_eq!(doc["instances"][0]["id"], id, "{file}");
    }
}

#[test]
fn stop_while_the_registry_is_down_exits_1_saying_the_entry_will_expire() {
    need!(Etcd);
    let tmp = common::tempdir();
    let health = HealthServer::start();
    let mut etcd = PrivateEtcd::new(tmp.path());
    etcd.start();
    let name = unique("stopdown");
    let prefix = format!("/hale/services/{name}/");
    let mut reg = spawn_register(
        tmp.path(),
        &format!("etcd://{}", etcd.endpoint()),
        &name,
        &health.address(),
        &["--ttl", "2s"],
    );
    assert!(wait_for(Duration::from_secs(10), || {
        !etcdctl_get_prefix(&etcd.endpoint(), &prefix).is_empty()
    })
    .is_some());
    etcd.stop();
    let status = sigterm(&mut reg);
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    reg.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let last = err
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("error: stopped, but could not deregister")
            && last.contains("expires after its TTL"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_discover_watch_which_says_so_and_exits_130() {
    let tmp = common::tempdir();
    let registry = format!("file://{}", tmp.path().join("r.json").display());
    let mut child = common::hale(tmp.path())
        .args(["discover", "orders", "--watch", "--registry", &registry])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first line means the watch is running.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Stopped"), "{stderr}");
}

/// Send `signal` to a running hale and wait for it: its exit status and how long it took.
fn stop_with(
    child: &mut Child,
    signal: nix::sys::signal::Signal,
) -> (std::process::ExitStatus, Duration) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let sent = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, sent.elapsed());
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "hale did not exit after {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_or_sigterm_stops_register_within_two_seconds_deregistered_no_temporary_file_left() {
    use nix::sys::signal::Signal;
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let tmp = common::tempdir();
        let health = HealthServer::start();
        let name = unique("sig");
        let file = tmp.path().join("r.json");
        let registry = format!("file://{}", file.display());
        let mut reg = spawn_register(
            tmp.path(),
            &registry,
            &name,
            &health.address(),
            &["--id", "s1"],
        );
        assert!(
            wait_for(Duration::from_secs(10), || std::fs::read_to_string(&file)
                .is_ok_and(|t| t.contains("\"s1\"")))
            .is_some(),
            "{signal}: the file registry never got the instance"
        );
        let (status, took) = stop_with(&mut reg.0, signal);
        assert_eq!(status.code(), Some(130), "{signal}");
        assert!(took < Duration::from_secs(2), "{signal}: took {took:?}");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(doc["instances"].as_array().unwrap().len(), 0, "{signal}");
        // The registry file is rewritten through a temporary file: none may be left beside it.
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("r.json.tmp"))
            .collect();
        assert!(left.is_empty(), "{signal}: left {left:?}");
    }
}

#[test]
fn sigint_stops_discover_watch_within_two_seconds_and_exits_130() {
    let tmp = common::tempdir();
    let registry = format!("file://{}", tmp.path().join("r.json").display());
    let mut child = common::hale(tmp.path())
        .args(["discover", "orders", "--watch", "--registry", &registry])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    let (status, took) = stop_with(&mut child, nix::sys::signal::Signal::SIGINT);
    assert_eq!(status.code(), Some(130));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("Stopped"), "{stderr}");
}
