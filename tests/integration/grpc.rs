//! `hale new --grpc`: the generated gRPC service builds, passes gofmt, vet, golangci-lint and its
//! race tests, its committed Go code is what its own generator (`make proto`) writes, and a
//! running instance answers grpc.health.v1 SERVING, then NOT_SERVING on SIGTERM while its
//! listener still accepts, then stops. `hale load --grpc` against a `hale up` fleet of it.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// Run go in `dir` and fail the test with its output unless it succeeds.
pub(crate) fn go(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("go")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running go");
    assert!(
        out.status.success(),
        "go {} failed in {}:\n{}{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `hale new NAME --grpc` into a fresh folder under `tmp`.
pub(crate) fn generate(tmp: &Path, name: &str) -> std::path::PathBuf {
    let dir = tmp.join(name);
    let out = common::hale(tmp)
        .args(["new", name, "--grpc", "--no-tidy", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale new --grpc");
    dir
}

/// grpc.health.v1.Health/Check for `service` over HTTP/2 with prior knowledge (as gRPC
/// clients speak to a plain-text port): the serving status (1 SERVING, 2 NOT_SERVING).
async fn health_check(addr: &str, service: &str) -> Result<u64, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (client, conn) = h2::client::handshake(tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    // HealthCheckRequest { service = 1 }, behind gRPC's 5-byte frame prefix.
    let mut message = vec![0x0a, service.len() as u8];
    message.extend_from_slice(service.as_bytes());
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let (response, mut send) = client
        .send_request(request, false)
        .map_err(|e| e.to_string())?;
    send.send_data(frame.into(), true)
        .map_err(|e| e.to_string())?;
    let response = response.await.map_err(|e| e.to_string())?;
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.map_err(|e| e.to_string())?;
    let code = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status"))
        .map(|v| v.to_str().unwrap_or("").to_string());
    if code.as_deref() != Some("0") {
        return Err(format!("grpc-status {code:?}"));
    }
    // HealthCheckResponse { status = 1 (enum) }: absent means UNKNOWN (0).
    Ok(match bytes.get(5..) {
        Some([0x08, status, ..]) => u64::from(*status),
        _ => 0,
    })
}

#[test]
fn the_grpc_service_is_gofmt_clean_vets_and_passes_its_race_tests() {
    need!(Go);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    for file in [
        "api/orders/v1/orders.proto",
        "api/orders/v1/orders.pb.go",
        "api/orders/v1/orders_grpc.pb.go",
        "internal/grpcserver/server.go",
        "pkg/grpcclient/resolver.go",
        "pkg/grpcclient/balancer.go",
        "tools/protogen/go.mod",
    ] {
        assert!(dir.join(file).is_file(), "{file} not generated");
    }
    let unformatted = go(&dir, &["fmt", "./..."]);
    assert!(
        unformatted.stdout.is_empty(),
        "go fmt changed {}",
        String::from_utf8_lossy(&unformatted.stdout)
    );
    go(&dir, &["mod", "tidy", "-diff"]);
    go(&dir, &["vet", "./..."]);
    go(&dir, &["test", "-race", "-count=1", "./..."]);
    // golangci-lint with the project's .golangci.yml (its standard set includes staticcheck).
    if let Some(lint) = common::service(common::Service::GolangciLint) {
        let out = Command::new(lint)
            .args(["run", "./..."])
            .current_dir(&dir)
            .output()
            .unwrap();
        common::assert_success(&out, "golangci-lint run");
    }
}

/// The gRPC client side (`pkg/grpcclient`) and the rest of the gRPC files come only with
/// `--grpc`: an HTTP-only project has none of them, nor a word of them in its README.
#[test]
fn an_http_only_service_gets_no_grpc_client_package() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    let out = common::hale(tmp.path())
        .args(["new", "orders", "--no-tidy", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale new");
    for path in ["pkg/grpcclient", "internal/grpcserver", "api"] {
        assert!(!dir.join(path).exists(), "{path} generated without --grpc");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        !readme.contains("grpcclient") && !readme.contains("hale:///"),
        "the HTTP-only README describes the gRPC client"
    );
    let grpc = generate(tmp.path(), "grpc-orders");
    let readme = std::fs::read_to_string(grpc.join("README.md")).unwrap();
    assert!(
        readme.contains("grpc.NewClient(\"hale:///grpc-orders\""),
        "the gRPC README does not show how to dial the service:\n{readme}"
    );
}

/// The committed generated code is byte for byte what the project's own generator writes from
/// the .proto, for a hyphenated name too (file variables, package and type names derive from it).
#[test]
fn the_committed_code_is_what_make_proto_generates() {
    need!(Go);
    let tmp = common::tempdir();
    for name in ["orders", "payment-gateway"] {
        let dir = generate(tmp.path(), name);
        let api = dir.join(format!("api/{name}/v1"));
        let before: Vec<(String, Vec<u8>)> = ["pb.go", "_grpc.pb.go"]
            .iter()
            .map(|suffix| {
                let file = if *suffix == "pb.go" {
                    format!("{name}.pb.go")
                } else {
                    format!("{name}{suffix}")
                };
                let bytes = std::fs::read(api.join(&file)).unwrap();
                (file, bytes)
            })
            .collect();
        go(&dir, &["-C", "tools/protogen", "run", ".", "../.."]);
        for (file, bytes) in before {
            let after = std::fs::read(api.join(&file)).unwrap();
            assert!(
                after == bytes,
                "{name}: make proto rewrote {file}:\n{}",
                similar::TextDiff::from_lines(
                    &String::from_utf8_lossy(&bytes),
                    &String::from_utf8_lossy(&after)
                )
                .unified_diff()
            );
        }
        go(&dir, &["vet", "./..."]);
    }
}

#[test]
fn health_is_serving_then_not_serving_on_sigterm_before_the_listener_closes() {
    need!(Go);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let binary = dir.join("bin/orders");
    go(
        &dir,
        &["build", "-o", binary.to_str().unwrap(), "./cmd/orders"],
    );
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(&binary)
        .env_clear()
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DRAIN_DELAY", "2s")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let service = "orders.v1.OrderService";
    let deadline = Instant::now() + Duration::from_secs(20);
    let serving = loop {
        match rt.block_on(health_check(&addr, service)) {
            Ok(1) => break true,
            _ if Instant::now() > deadline => break false,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    if !serving {
        let _ = child.kill();
        panic!("health never answered SERVING on {addr}");
    }
    assert_eq!(
        rt.block_on(health_check(&addr, "")),
        Ok(1),
        "the server's own status"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // Within the drain delay a new connection is still accepted and told NOT_SERVING.
    let signalled = Instant::now();
    let mut not_serving = None;
    while signalled.elapsed() < Duration::from_millis(1500) {
        if let Ok(2) = rt.block_on(health_check(&addr, service)) {
            not_serving = Some(signalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let exited = (0..100).find_map(|_| {
        let status = child.try_wait().unwrap();
        if status.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        status
    });
    if exited.is_none() {
        let _ = child.kill();
    }
    assert!(
        not_serving.is_some(),
        "health did not answer NOT_SERVING during the drain"
    );
    assert!(exited.is_some_and(|s| s.success()), "exit: {exited:?}");
    // After the drain the listener is closed.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

/// `hale up --replicas 3` of a generated gRPC service; `hale down` when dropped.
struct GrpcFleet {
    tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    name: String,
}

impl GrpcFleet {
    fn up() -> GrpcFleet {
        let tmp = common::tempdir();
        let name = format!("g{}", std::process::id());
        let dir = generate(tmp.path(), &name);
        let out = common::hale(tmp.path())
            .arg("up")
            .arg(&dir)
            .args(["--replicas", "3"])
            .output()
            .unwrap();
        common::assert_success(&out, "hale up");
        GrpcFleet { tmp, dir, name }
    }

    /// `hale load NAME --grpc Info ...` from the service folder, its JSON report.
    fn load(&self, args: &[&str]) -> (std::process::Output, serde_json::Value) {
        let proto = format!("api/{0}/v1/{0}.proto", self.name);
        let method = format!("{}.v1.{}Service/Info", self.name, capitalized(&self.name));
        let out = common::hale(self.tmp.path())
            .args(["load", &self.name, "--grpc", &method, "--proto", &proto])
            .args(args)
            .args(["--output", "json"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, report)
    }
}

impl Drop for GrpcFleet {
    fn drop(&mut self) {
        let _ = common::hale(self.tmp.path())
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}

/// The generated resource type of a name without '-' ending in 's' dropped: `g123` → `G123`.
fn capitalized(name: &str) -> String {
    let singular = name.strip_suffix('s').unwrap_or(name);
    let mut cs = singular.chars();
    cs.next()
        .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
        .unwrap_or_default()
}

#[test]
fn load_grpc_spreads_calls_and_loses_none_to_a_killed_or_stopping_instance() {
    need!(Go);
    let fleet = GrpcFleet::up();
    let ids: Vec<String> = (1..=3).map(|n| format!("{}-{n}", fleet.name)).collect();
    // Round robin over three healthy instances: each answers a third, attributed by the
    // x-instance-id header with no mismatch.
    let (out, report) = fleet.load(&["-s", "round-robin", "-c", "3", "-d", "2s"]);
    common::assert_success(&out, "hale load --grpc");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["target"]["method"], "gRPC", "{}", report["target"]);
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 30, "{requests} calls in 2 s");
    for id in &ids {
        let instance = report["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not in the report"));
        let share = instance["share"].as_f64().unwrap();
        assert!((0.28..0.39).contains(&share), "{id}: share {share}");
        assert_eq!(instance["id_mismatches"], 0);
    }
    // One instance killed mid-run: its breaker opens and the retries land elsewhere, so no
    // call fails.
    let victim = &ids[1];
    let fleet_dir = fleet.dir.to_str().unwrap().to_string();
    let (out, report) = fleet.load(&[
        "-s",
        "round-robin",
        "-c",
        "4",
        "-d",
        "4s",
        "--retries",
        "2",
        "--fleet",
        &fleet_dir,
        "--fault",
        &format!("at=1s,kill={victim}"),
        "--assert",
        "errors<=0%",
    ]);
    common::assert_success(&out, "hale load --grpc with a kill");
    assert_eq!(report["errors"], 0, "{}", report["timeline"]);
    let kill = report["resilience"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "kill")
        .unwrap()
        .clone();
    assert!(
        kill["breaker_opened_after_ms"].as_f64().is_some(),
        "the victim's breaker never opened: {kill}"
    );
    let others: u64 = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] != victim.as_str())
        .map(|i| i["ok"].as_u64().unwrap())
        .sum();
    assert!(others > 30, "the survivors answered {others} calls");
    // A graceful stop (SIGTERM: NOT_SERVING, deregistration, drain, GracefulStop) costs no
    // call either, without retries: the instance leaves the registry before its GOAWAY.
    let ps = common::hale(fleet.tmp.path())
        .args(["ps"])
        .arg(&fleet.dir)
        .args(["--output", "json"])
        .output()
        .unwrap();
    let ps: serde_json::Value = serde_json::from_slice(&ps.stdout).unwrap();
    let leaving = &ids[0];
    let pid = ps["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == leaving.as_str())
        .and_then(|i| i["pid"].as_i64())
        .unwrap_or_else(|| panic!("no pid for {leaving}: {ps}"));
    let signal = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
    });
    let (out, report) = fleet.load(&["-s", "round-robin", "-c", "4", "-d", "5s"]);
    signal.join().unwrap().unwrap();
    common::assert_success(&out, "hale load --grpc across a graceful stop");
    // The instance killed above may still be listed until its registry TTL runs out, and its
    // breaker's probes fail; the stopping instance and the survivor fail no call.
    for id in [leaving, &ids[2]] {
        let instance = report["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap();
        let failed: u64 = instance["errors"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(failed, 0, "{id}: {instance}\n{}", report["timeline"]);
        assert!(instance["ok"].as_u64().unwrap() > 0, "{id}: {instance}");
    }
    assert!(
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "removed" && e["instance"] == leaving.as_str()),
        "{leaving} never left the registry: {}",
        report["timeline"]
    );
}

#[test]
fn load_grpc_refuses_an_unknown_method_in_one_line() {
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let out = common::hale(tmp.path())
        .args([
            "load",
            "--endpoints",
            "127.0.0.1:1",
            "--grpc",
            "orders.v1.OrderService/Nope",
            "--proto",
            "api/orders/v1/orders.proto",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("orders.v1.OrderService/Info"),
        "the known methods are named: {stderr}"
    );
}

/// hale.lock records `grpc`, so `hale upgrade` renders the same gRPC files: on a fresh service
/// every file is unchanged and none is added or removed.
#[test]
fn upgrade_of_a_grpc_service_keeps_its_grpc_files() {
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let lock = std::fs::read_to_string(dir.join("hale.lock")).unwrap();
    assert!(lock.contains("grpc = true"), "{lock}");
    let out = common::hale(tmp.path())
        .args(["--output", "json", "upgrade"])
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "hale upgrade");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["updated", "added", "removed", "merged", "conflicted"] {
        let list = doc[key].as_array().map_or(0, Vec::len);
        assert_eq!(list, 0, "{key}: {doc}");
    }
    let unchanged = doc["unchanged"].to_string();
    assert!(
        unchanged.contains("api/orders/v1/orders.pb.go"),
        "{unchanged}"
    );
}

/// `bin/orders` of a generated project, started registered in `consul` as `id` with `env`
/// besides; its log goes to `log`.
fn start_registered(
    binary: &Path,
    consul: &str,
    id: &str,
    port: u16,
    log: &Path,
    env: &[(&str, &str)],
) -> std::process::Child {
    let file = std::fs::File::create(log).unwrap();
    Command::new(binary)
        .env_clear()
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("ADVERTISE_ADDR", "127.0.0.1")
        .env("INSTANCE_ID", id)
        .env("REGISTRY", format!("consul://{consul}"))
        .env("DRAIN_DELAY", "100ms")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// The agent's checks `{id}:{suffix}` once Consul has probed each of them and found it passing
/// (a check's Output is empty until its first probe; the registration's "passing" has none),
/// or Err with the last answer after 30 s.
fn probed_and_passing(
    consul: &str,
    id: &str,
    suffixes: &[&str],
) -> Result<Vec<serde_json::Value>, serde_json::Value> {
    let checks_url = format!("http://{consul}/v1/agent/checks");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    loop {
        if let Ok(checks) =
            reqwest::blocking::get(&checks_url).and_then(|r| r.json::<serde_json::Value>())
        {
            let wanted: Vec<serde_json::Value> = suffixes
                .iter()
                .map(|s| checks[format!("{id}:{s}")].clone())
                .collect();
            if wanted.iter().all(|c| {
                c["Status"] == "passing" && c["Output"].as_str().is_some_and(|o| !o.is_empty())
            }) {
                return Ok(wanted);
            }
            last = serde_json::Value::Array(wanted);
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn sigterm_and_wait(child: &mut std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = child.wait();
}

/// In Consul the instance has a gRPC check (grpc.health.v1 on its own port, through the mux)
/// beside the HTTP one, and Consul's own probe of it passes.
#[test]
fn consul_checks_grpc_health_on_the_service_port() {
    let _go = need!(Go);
    let consul = need!(Consul);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let binary = dir.join("bin/orders");
    go(
        &dir,
        &["build", "-o", binary.to_str().unwrap(), "./cmd/orders"],
    );
    let port = common::free_port();
    let id = format!("orders-grpc-{}-{port}", std::process::id());
    let log = tmp.path().join("orders.log");
    let mut child = start_registered(&binary, &consul, &id, port, &log, &[]);
    let probed = probed_and_passing(&consul, &id, &["grpc"]);
    sigterm_and_wait(&mut child);
    let checks = probed.unwrap_or_else(|last| {
        panic!(
            "Consul never passed the gRPC check: {last}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let grpc = &checks[0];
    assert_eq!(grpc["Type"], "grpc", "{grpc}");
    assert!(
        grpc["Output"]
            .as_str()
            .unwrap()
            .contains("orders.v1.OrderService"),
        "{grpc}"
    );
}

/// With TLS_CERT_FILE/TLS_KEY_FILE the instance registers with meta scheme=https and the real
/// Consul probes both its checks over TLS, with a certificate from a CA the agent does not
/// know: HTTPS GET /readyz (which reaches the HTTP side: Consul offers h2 and http/1.1, and
/// gets HTTP/1.1) and grpc.health.v1 with TLS (ALPN h2, the gRPC side). Both pass, so the
/// instance is among the service's passing ones.
#[test]
fn consul_probes_a_tls_instance_over_tls_and_lists_it_passing() {
    let _go = need!(Go);
    let consul = need!(Consul);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let binary = dir.join("bin/orders");
    go(
        &dir,
        &["build", "-o", binary.to_str().unwrap(), "./cmd/orders"],
    );
    let (_ca, cert, key) = crate::grpc_load::tls_files(tmp.path());
    let port = common::free_port();
    let name = format!("orders-tls-{}-{port}", std::process::id());
    let id = format!("{name}-1");
    let log = tmp.path().join("orders.log");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut child = start_registered(
        &binary,
        &consul,
        &id,
        port,
        &log,
        &[
            ("SERVICE_NAME", name.as_str()),
            ("TLS_CERT_FILE", cert.as_str()),
            ("TLS_KEY_FILE", key.as_str()),
        ],
    );
    let probed = probed_and_passing(&consul, &id, &["http", "grpc"]);
    let passing =
        reqwest::blocking::get(format!("http://{consul}/v1/health/service/{name}?passing"))
            .and_then(|r| r.json::<serde_json::Value>());
    let service = reqwest::blocking::get(format!("http://{consul}/v1/agent/service/{id}"))
        .and_then(|r| r.json::<serde_json::Value>());
    sigterm_and_wait(&mut child);
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let checks = probed.unwrap_or_else(|last| {
        panic!("Consul never passed both checks of the TLS instance: {last}\n{logs}")
    });
    let (http, grpc) = (&checks[0], &checks[1]);
    assert_eq!(http["Type"], "http", "{http}");
    let output = http["Output"].as_str().unwrap();
    assert!(
        output.contains(&format!("https://127.0.0.1:{port}/readyz")) && output.contains("200"),
        "{http}"
    );
    assert_eq!(grpc["Type"], "grpc", "{grpc}");
    assert!(
        grpc["Output"]
            .as_str()
            .unwrap()
            .contains("orders.v1.OrderService"),
        "{grpc}"
    );
    let passing = passing.expect("Consul answers /v1/health/service");
    assert!(
        passing
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e["Service"]["ID"] == id.as_str())),
        "{id} is not among the passing instances: {passing}"
    );
    let service = service.expect("Consul answers /v1/agent/service");
    assert_eq!(service["Meta"]["scheme"], "https", "{service}");
}

/// The client side's resolver follows the real Consul and etcd (its Go test carries the
/// `integration` tag, so the default `go test` starts neither): instances registering and
/// leaving join and leave the picks of a client dialing `hale:///NAME`.
#[test]
fn the_grpc_client_resolver_follows_consul_and_etcd() {
    need!(Go);
    let consul = need!(Consul);
    let etcd = need!(Etcd);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let out = Command::new("go")
        .args([
            "test",
            "-tags",
            "integration",
            "-count=1",
            "-v",
            "-run",
            "TestTheResolverFollowsConsulAndEtcd",
            "./pkg/grpcclient",
        ])
        .current_dir(&dir)
        .env("INTEGRATION_CONSUL_ADDR", &consul)
        .env("INTEGRATION_ETCD_ADDR", &etcd)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go test -tags integration ./pkg/grpcclient failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for backend in ["consul", "etcd"] {
        let passed = format!("--- PASS: TestTheResolverFollowsConsulAndEtcd/{backend}");
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(&passed)),
            "the {backend} resolver test did not pass (skipped?):\n{report}"
        );
    }
}
