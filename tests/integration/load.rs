//! `hale load` against real HTTP servers on 127.0.0.1: small HTTP/1.1 keep-alive servers this
//! test starts (one can fail or be shut down mid-run), driven through `--endpoints`.
use crate::common;
use crate::common::tls_server::TlsTestServer;

use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How a test server answers.
#[derive(Clone, Copy)]
pub(crate) enum Behaviour {
    Ok,
    /// 503 to every request.
    Unavailable,
    /// 200 with `Connection: close`, then the server closes the connection.
    CloseEachConnection,
    /// 200, after holding each request this long.
    Slow(Duration),
}

/// A real HTTP/1.1 server on 127.0.0.1 that counts the requests it answered.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    served: Arc<AtomicU64>,
    /// Connections accepted and not yet closed (by either side).
    open: Arc<AtomicU64>,
    shutdown: watch::Sender<bool>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    pub(crate) fn start(name: &str, behaviour: Behaviour) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicU64::new(0));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let response: &'static [u8] = match behaviour {
            Behaviour::Ok | Behaviour::Slow(_) => Box::leak(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Instance-ID: {name}\r\nContent-Length: 11\r\n\r\n{{\"ok\":true}}"
                )
                .into_bytes()
                .into_boxed_slice(),
            ),
            Behaviour::Unavailable => Box::leak(
                format!(
                    "HTTP/1.1 503 Service Unavailable\r\nX-Instance-ID: {name}\r\nContent-Length: 26\r\n\r\n{{\"error\":\"injected fault\"}}"
                )
                .into_bytes()
                .into_boxed_slice(),
            ),
            Behaviour::CloseEachConnection => Box::leak(
                format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Instance-ID: {name}\r\nContent-Length: 2\r\n\r\nok"
                )
                .into_bytes()
                .into_boxed_slice(),
            ),
        };
        let close_after = matches!(behaviour, Behaviour::CloseEachConnection);
        let delay = match behaviour {
            Behaviour::Slow(d) => Some(d),
            _ => None,
        };
        let counter = served.clone();
        let open = Arc::new(AtomicU64::new(0));
        let open_count = open.clone();
        runtime.spawn(async move {
            let mut stop = shutdown_rx.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut socket, _)) = accepted else { continue };
                        let counter = counter.clone();
                        let mut stop = shutdown_rx.clone();
                        let open = OpenGuard::new(open_count.clone());
                        tokio::spawn(async move {
                            let _open = open;
                            let mut buf = Vec::with_capacity(4096);
                            let mut chunk = [0u8; 4096];
                            loop {
                                let n = tokio::select! {
                                    r = socket.read(&mut chunk) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                                    _ = stop.changed() => return,
                                };
                                buf.extend_from_slice(&chunk[..n]);
                                while let Some(end) = find_head_end(&buf) {
                                    let body = content_length(&buf[..end]);
                                    if buf.len() < end + body {
                                        break;
                                    }
                                    buf.drain(..end + body);
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    if let Some(d) = delay {
                                        tokio::time::sleep(d).await;
                                    }
                                    if socket.write_all(response).await.is_err() || close_after {
                                        return;
                                    }
                                }
                            }
                        });
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        TestServer {
            addr,
            served,
            open,
            shutdown,
            _runtime: runtime,
        }
    }

    /// Close the listener and every connection: the instance is gone (connections reset,
    /// new ones refused).
    fn kill(&self) {
        let _ = self.shutdown.send(true);
    }

    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
}

/// Counts one open connection for as long as it lives.
struct OpenGuard(Arc<AtomicU64>);

impl OpenGuard {
    fn new(count: Arc<AtomicU64>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        OpenGuard(count)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn content_length(head: &[u8]) -> usize {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn endpoints(servers: &[&TestServer]) -> String {
    servers
        .iter()
        .map(|s| s.addr.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn load(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = common::tempdir();
    let output = common::hale(dir.path())
        .arg("load")
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (output, dir)
}

/// `hale load ARGS` started in the background, JSON output, in its own temporary folder.
fn spawn_load(args: &[&str]) -> (Child, tempfile::TempDir) {
    let dir = common::tempdir();
    let mut cmd = common::hale(dir.path());
    cmd.arg("load")
        .args(args)
        .args(["--output", "json"])
        .current_dir(dir.path());
    (spawn(cmd), dir)
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The generous deadline for anything a test waits for: the machine may be busy, so no test
/// depends on how fast a condition comes, only on that it comes.
const PATIENCE: Duration = Duration::from_secs(60);

/// Poll `done` until it holds or `PATIENCE` runs out; whether it held.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > PATIENCE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until `done` holds, then stop the run as Ctrl-C would and return its output (exit 130,
/// the report of what it did). The run's own `-d` is only a safety bound, longer than
/// `PATIENCE`, so the test never depends on how much the run got done in a fixed time.
fn interrupt_when(child: Child, what: &str, done: impl FnMut() -> bool) -> Output {
    interrupt_with(child, "-INT", what, done)
}

/// [`interrupt_when`] with another stop signal (`-TERM`, as a supervisor sends).
fn interrupt_with(child: Child, signal: &str, what: &str, done: impl FnMut() -> bool) -> Output {
    let held = wait_until(done);
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert!(
        held,
        "waited {PATIENCE:?} for {what}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "the run ended before {what} was seen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// How many requests a three-state breaker can let through to a dead instance, read from the
/// run's own timeline: up to `concurrency - 1` already in flight plus the `consecutive` failures
/// that trip it, and then up to `probes` per half-open episode of that instance. A property of
/// the breaker, not of how fast the machine is.
fn breaker_bound(report: &Value, instance: &str, concurrency: u64) -> u64 {
    let (consecutive, probes) = (5, 3);
    let half_opens = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "breaker" && e["instance"] == instance && e["state"] == "half-open"
        })
        .count() as u64;
    consecutive + concurrency - 1 + probes * half_opens
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The run's JSON report, after checking the run exited 0.
fn succeeded(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)
}

fn instance(report: &Value, addr: SocketAddr) -> &Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["address"] == addr.to_string())
        .unwrap_or_else(|| panic!("no instance {addr} in {report}"))
}

/// A server on 127.0.0.1 that answers every request 200 (keep-alive) and records each
/// request's Host header, as a virtual-hosted front would route on it.
fn start_host_recorder() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hosts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hosts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut host = None;
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("host") {
                                host = Some(value.trim().to_string());
                            }
                        }
                    }
                    seen.lock().unwrap().push(host.unwrap_or_default());
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if writer.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, hosts)
}

#[test]
fn the_host_header_is_the_authority_the_user_gave_not_the_resolved_address() {
    let (addr, hosts) = start_host_recorder();
    let port = addr.port();
    // `localhost` resolves to the recorder's 127.0.0.1; the server must still see the name.
    let cases = [
        (
            vec!["--url".to_string(), format!("http://localhost:{port}/v1/x")],
            format!("localhost:{port}"),
        ),
        (
            vec!["--endpoints".to_string(), format!("localhost:{port}")],
            format!("localhost:{port}"),
        ),
        (
            vec!["--endpoints".to_string(), format!("127.0.0.1:{port}")],
            format!("127.0.0.1:{port}"),
        ),
    ];
    for (target, expected) in cases {
        hosts.lock().unwrap().clear();
        let mut args: Vec<&str> = target.iter().map(String::as_str).collect();
        args.extend(["-n", "5", "-c", "1", "--output", "json"]);
        let (out, _dir) = load(&args);
        let report = succeeded(&out);
        assert_eq!(report["requests"], 5, "{target:?}");
        let seen = hosts.lock().unwrap().clone();
        assert_eq!(seen.len(), 5, "{target:?}: {seen:?}");
        assert!(
            seen.iter().all(|h| *h == expected),
            "{target:?}: Host headers {seen:?}, expected {expected}"
        );
    }
}

#[test]
fn round_robin_gives_each_of_three_servers_a_third() {
    let servers: Vec<_> = (1..=3)
        .map(|i| TestServer::start(&format!("srv-{i}"), Behaviour::Ok))
        .collect();
    let refs: Vec<&TestServer> = servers.iter().collect();
    let (out, _dir) = load(&[
        "--endpoints",
        &endpoints(&refs),
        "--strategy",
        "round-robin",
        "-c",
        "6",
        "-n",
        "3000",
        "--output",
        "json",
    ]);
    let report = succeeded(&out);
    assert_eq!(report["schema"], "hale.load/v1");
    assert_eq!(report["requests"], 3000);
    assert_eq!(report["errors"], 0);
    for s in &servers {
        let i = instance(&report, s.addr);
        let share = i["share"].as_f64().unwrap();
        assert!(
            (share - 1.0 / 3.0).abs() < 0.01,
            "share {share} of {}",
            s.addr
        );
        // The server's own count agrees with the attribution.
        assert_eq!(i["requests"].as_u64().unwrap(), s.served());
    }
    assert!(report["fairness"]["jain"].as_f64().unwrap() > 0.999);
}

#[test]
fn counting_strategies_spread_load_within_tolerance() {
    let servers: Vec<_> = (1..=3)
        .map(|i| TestServer::start(&format!("srv-{i}"), Behaviour::Ok))
        .collect();
    let refs: Vec<&TestServer> = servers.iter().collect();
    // Counting strategies are exact; random is binomial (3000 draws, ±4σ ≈ 3.5 pp). Neither
    // depends on how fast the servers answer. The measured strategies (least-connections,
    // p2c-ewma) follow the servers' speed, which a busy machine changes: the next test proves
    // what they promise instead, that a slow server gets less than the fast ones.
    for (strategy, tolerance) in [("weighted-round-robin", 0.01), ("random", 0.05)] {
        let (out, _dir) = load(&[
            "--endpoints",
            &endpoints(&refs),
            "--strategy",
            strategy,
            "-c",
            "6",
            "-n",
            "3000",
            "--output",
            "json",
        ]);
        common::assert_success(&out, strategy);
        let report = json(&out);
        assert_eq!(report["strategy"], strategy);
        let dev = report["fairness"]["max_share_deviation"].as_f64().unwrap();
        assert!(
            dev < tolerance,
            "{strategy}: share deviation {dev}; instances {}",
            report["instances"]
        );
    }
}

#[test]
fn measured_strategies_send_less_to_a_slow_server_than_to_each_fast_one() {
    // 50 ms per request against well under a millisecond: a gap no neighbour on the machine
    // closes over 2000 requests, so the ordering holds however busy it is.
    let fast1 = TestServer::start("fast-1", Behaviour::Ok);
    let fast2 = TestServer::start("fast-2", Behaviour::Ok);
    let slow = TestServer::start("slow", Behaviour::Slow(Duration::from_millis(50)));
    let refs = [&fast1, &fast2, &slow];
    for strategy in ["least-connections", "p2c-ewma"] {
        let before: Vec<u64> = refs.iter().map(|s| s.served()).collect();
        let (out, _dir) = load(&[
            "--endpoints",
            &endpoints(&refs),
            "--strategy",
            strategy,
            "-c",
            "6",
            "-n",
            "2000",
            "--output",
            "json",
        ]);
        let report = succeeded(&out);
        assert_eq!(report["strategy"], strategy);
        assert_eq!(report["errors"], 0, "{strategy}: {report}");
        let got = |s: &TestServer| instance(&report, s.addr)["requests"].as_u64().unwrap();
        let (f1, f2, sl) = (got(&fast1), got(&fast2), got(&slow));
        assert_eq!(f1 + f2 + sl, 2000, "{strategy}");
        assert!(
            sl < f1 && sl < f2,
            "{strategy}: slow server got {sl}, fast ones {f1} and {f2}"
        );
        // The servers' own counts agree with the attribution.
        for (s, was) in refs.iter().zip(before) {
            assert_eq!(s.served() - was, got(s), "{strategy}: {}", s.addr);
        }
    }
}

#[test]
fn consistent_hash_on_a_fixed_header_sticks_to_one_server() {
    let servers: Vec<_> = (1..=3)
        .map(|i| TestServer::start(&format!("srv-{i}"), Behaviour::Ok))
        .collect();
    let refs: Vec<&TestServer> = servers.iter().collect();
    let (out, _dir) = load(&[
        "--endpoints",
        &endpoints(&refs),
        "--strategy",
        "consistent-hash",
        "--hash-header",
        "X-User",
        "-H",
        "X-User: alice",
        "-n",
        "300",
        "--output",
        "json",
    ]);
    common::assert_success(&out, "hale load");
    let served: Vec<u64> = servers.iter().map(TestServer::served).collect();
    assert_eq!(
        served.iter().filter(|&&n| n == 300).count(),
        1,
        "{served:?}"
    );
    assert_eq!(served.iter().sum::<u64>(), 300);
    // One fixed key sends everything to one instance: that is fair for this strategy.
    let report = json(&out);
    assert_eq!(report["fairness"]["jain"], 1.0, "{}", report["fairness"]);
    assert_eq!(report["fairness"]["max_share_deviation"], 0.0);
    assert!(report["fairness"]["note"]
        .as_str()
        .unwrap()
        .contains("one fixed key"));
    let expected: Vec<f64> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["expected_share"].as_f64().unwrap())
        .collect();
    assert_eq!(
        expected.iter().filter(|&&e| e == 1.0).count(),
        1,
        "{expected:?}"
    );
    assert_eq!(
        expected.iter().filter(|&&e| e == 0.0).count(),
        2,
        "{expected:?}"
    );
}

#[test]
fn idle_instances_show_a_dash_not_zero_latency() {
    let servers: Vec<_> = (1..=3)
        .map(|i| TestServer::start(&format!("srv-{i}"), Behaviour::Ok))
        .collect();
    let refs: Vec<&TestServer> = servers.iter().collect();
    let (out, _dir) = load(&[
        "--endpoints",
        &endpoints(&refs),
        "--strategy",
        "consistent-hash",
        "--hash-header",
        "X-User",
        "-H",
        "X-User: alice",
        "-n",
        "100",
    ]);
    common::assert_success(&out, "hale load");
    let text = String::from_utf8_lossy(&out.stdout);
    let idle: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("127.0.0.1:") && l.split_whitespace().nth(4) == Some("0"))
        .collect();
    assert_eq!(idle.len(), 2, "{text}");
    for row in idle {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cols[6..8], ["-", "-"], "idle latency is -: {row}");
    }
    assert!(!text.contains(" 0.000 "), "{text}");
}

#[test]
fn failing_server_opens_its_breaker_and_loses_its_traffic() {
    let good1 = TestServer::start("good-1", Behaviour::Ok);
    let good2 = TestServer::start("good-2", Behaviour::Ok);
    let bad = TestServer::start("bad", Behaviour::Unavailable);
    let (out, _dir) = load(&[
        "--endpoints",
        &endpoints(&[&good1, &good2, &bad]),
        "--strategy",
        "round-robin",
        "-c",
        "4",
        "-n",
        "1000",
        "--output",
        "json",
    ]);
    let report = succeeded(&out);
    let b = instance(&report, bad.addr);
    assert_eq!(b["breaker"], "open", "{b}");
    let opened = report["timeline"].as_array().unwrap().iter().any(|e| {
        e["kind"] == "breaker" && e["state"] == "open" && e["instance"] == bad.addr.to_string()
    });
    assert!(opened, "no breaker-open event in {}", report["timeline"]);
    // It took only what the breaker lets through (the trip, then a few probes per cool-down
    // the timeline shows): the rest went to the good servers.
    let bad_requests = b["requests"].as_u64().unwrap();
    let bound = breaker_bound(&report, &bad.addr.to_string(), 4);
    assert!(
        (1..=bound).contains(&bad_requests),
        "bad server got {bad_requests}, breaker bound {bound}: {}",
        report["timeline"]
    );
    assert_eq!(report["errors_by_kind"]["5xx"], bad_requests);
    assert_eq!(report["ok"].as_u64().unwrap(), 1000 - bad_requests);
    assert_eq!(good1.served() + good2.served(), 1000 - bad_requests);
}

#[test]
fn killed_server_is_cut_off_and_the_others_take_its_traffic() {
    let a = TestServer::start("a", Behaviour::Ok);
    let b = TestServer::start("b", Behaviour::Ok);
    let victim = TestServer::start("victim", Behaviour::Ok);
    let (child, _dir) = spawn_load(&[
        "--endpoints",
        &endpoints(&[&a, &b, &victim]),
        "--strategy",
        "round-robin",
        "-c",
        "4",
        "-d",
        "120s",
    ]);
    let mut others_at_kill = 0;
    let mut killed = false;
    // The victim takes its share, is killed, and then the others serve 500 more requests.
    let out = interrupt_when(
        child,
        "the victim's share, the kill, 500 more elsewhere",
        || {
            if !killed {
                if victim.served() > 50 {
                    victim.kill();
                    others_at_kill = a.served() + b.served();
                    killed = true;
                }
                return false;
            }
            a.served() + b.served() >= others_at_kill + 500
        },
    );
    let report = json(&out);
    let v = instance(&report, victim.addr);
    assert_eq!(v["breaker"], "open", "{v}");
    // Attempts after the kill: what the breaker lets through to a dead instance, however long
    // the run took to get there.
    let failed: u64 = v["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    let bound = breaker_bound(&report, &victim.addr.to_string(), 4);
    assert!(
        (1..=bound).contains(&failed),
        "victim failures {failed}, breaker bound {bound}: {}",
        report["timeline"]
    );
}

#[test]
fn connections_closed_by_the_server_are_reopened_without_errors() {
    let s = TestServer::start("s", Behaviour::CloseEachConnection);
    let (out, _dir) = load(&[
        "--endpoints",
        &s.addr.to_string(),
        "-c",
        "2",
        "-n",
        "300",
        "--output",
        "json",
    ]);
    let report = succeeded(&out);
    assert_eq!(report["ok"], 300, "{}", report["errors_by_kind"]);
    assert_eq!(s.served(), 300);
}

/// The rate the open model achieves on this machine is measured by `bench/open-model.sh`; here,
/// what it promises whatever the machine's load: rate × duration arrivals, each one sent.
#[test]
fn open_model_schedules_rate_times_duration_arrivals_and_sends_each() {
    let s = TestServer::start("s", Behaviour::Ok);
    let (out, _dir) = load(&[
        "--endpoints",
        &s.addr.to_string(),
        "--rate",
        "1000",
        "-d",
        "3s",
        "--output",
        "json",
    ]);
    let report = succeeded(&out);
    assert_eq!(report["model"]["kind"], "open");
    // One arrival every millisecond from 0 s to 3 s, both ends included.
    let scheduled = report["model"]["scheduled"].as_u64().unwrap();
    assert!((3000..=3001).contains(&scheduled), "{}", report["model"]);
    assert_eq!(report["requests"], scheduled);
    assert_eq!(report["ok"], scheduled, "{}", report["errors_by_kind"]);
    assert_eq!(s.served(), scheduled);
    // Latency is measured from each arrival's scheduled time (coordinated omission corrected),
    // so the corrected figures never fall below the uncorrected ones.
    let c = &report["latency"]["corrected"];
    let u = &report["latency"]["uncorrected"];
    assert!(c["p99"].as_f64().unwrap() >= u["p99"].as_f64().unwrap());
    assert!(c["p50"].as_f64().unwrap() >= u["p50"].as_f64().unwrap());
}

#[test]
fn a_seeded_poisson_schedule_replays_identically_under_another_strategy() {
    let s1 = TestServer::start("s1", Behaviour::Ok);
    let s2 = TestServer::start("s2", Behaviour::Ok);
    let list = endpoints(&[&s1, &s2]);
    let run = |strategy: &str, seed: &str| {
        let (out, _dir) = load(&[
            "--endpoints",
            &list,
            "--rate",
            "400",
            "--arrivals",
            "poisson",
            "-d",
            "1s",
            "--seed",
            seed,
            "--strategy",
            strategy,
            "--output",
            "json",
        ]);
        let report = succeeded(&out);
        assert_eq!(report["model"]["scheduled"], report["requests"]);
        report["model"]["schedule_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let a = run("round-robin", "7");
    let b = run("p2c-ewma", "7");
    let c = run("round-robin", "8");
    assert_eq!(a, b, "same seed, same arrivals");
    assert_ne!(a, c, "another seed draws another schedule");
}

#[test]
fn failed_assertion_is_named_and_exits_99() {
    let s = TestServer::start("s", Behaviour::Ok);
    let (out, _dir) = load(&[
        "--endpoints",
        &s.addr.to_string(),
        "-n",
        "200",
        "--assert",
        "p99<0.001ms",
        "--assert",
        "errors<1%",
    ]);
    assert_eq!(
        out.status.code(),
        Some(99),
        "a failed assertion has its own exit code"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL p99<0.001ms"), "{stdout}");
    assert!(stdout.contains("pass errors<1%"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("assertion failed: p99<0.001ms"), "{stderr}");
}

#[test]
fn malformed_assertion_exits_2_before_any_request() {
    let s = TestServer::start("s", Behaviour::Ok);
    let (out, _dir) = load(&[
        "--endpoints",
        &s.addr.to_string(),
        "-n",
        "50",
        "--assert",
        "p99<fast",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("p99<fast"), "{stderr}");
    assert_eq!(s.served(), 0);
}

#[test]
fn invalid_flags_get_one_clear_line_and_exit_2() {
    for (args, needle) in [
        (
            vec!["--endpoints", "127.0.0.1:1", "--strategy", "fastest"],
            "p2c-ewma",
        ),
        (vec!["--endpoints", "127.0.0.1:1", "--rate", "0"], "--rate"),
        (vec!["--endpoints", "127.0.0.1"], "HOST:PORT"),
        (
            vec!["--endpoints", "127.0.0.1:1", "--profile", "wave"],
            "ramp:FROM-TO",
        ),
        (
            vec!["--endpoints", "127.0.0.1:1", "--fault", "kill=x"],
            "at=",
        ),
        (
            vec!["--endpoints", "127.0.0.1:1", "--max-ejected", "150%"],
            "--max-ejected",
        ),
        (
            vec![
                "--endpoints",
                "127.0.0.1:1",
                "--strategy",
                "consistent-hash",
            ],
            "--hash-header",
        ),
        (vec![], "nothing to load"),
    ] {
        let (out, _dir) = load(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn refused_connections_are_counted_as_connect_errors() {
    let port = common::free_port();
    let (out, _dir) = load(&[
        "--endpoints",
        &format!("127.0.0.1:{port}"),
        "-d",
        "1s",
        "-c",
        "2",
        "--breaker",
        "off",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "nothing answered: a failed run");
    let report = json(&out);
    assert_eq!(report["ok"], 0);
    assert!(report["errors_by_kind"]["connect"].as_u64().unwrap() > 0);
    assert_eq!(report["errors"], report["requests"]);
}

#[test]
fn a_server_that_never_answers_gives_timeouts_never_early_ones() {
    // Accepts connections and reads requests, but never writes a byte back.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let (out, _dir) = load(&[
        "--endpoints",
        &addr.to_string(),
        "-d",
        "1s",
        "-c",
        "2",
        "--timeout",
        "200ms",
        "--breaker",
        "off",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "nothing answered: a failed run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("nothing answered at {addr}: ")) && stderr.contains("timed out"),
        "{stderr}"
    );
    let report = json(&out);
    assert_eq!(report["ok"], 0);
    let timeouts = report["errors_by_kind"]["timeout"].as_u64().unwrap();
    assert!(timeouts > 0);
    assert_eq!(report["errors"], report["requests"]);
    assert_eq!(report["errors"].as_u64().unwrap(), timeouts);
    // A timeout never fires before --timeout: two workers fit at most five 200 ms attempts
    // each into one second, plus the one each starts just before the end.
    assert!(timeouts <= 12, "{timeouts} timeouts in 1 s with 2 workers");
}

#[test]
fn html_report_and_mergeable_histograms_are_written() {
    let s1 = TestServer::start("s1", Behaviour::Ok);
    let s2 = TestServer::start("s2", Behaviour::Ok);
    let dir = common::tempdir();
    let html = dir.path().join("report.html");
    let hist = dir.path().join("h.json");
    let (out, _d) = load(&[
        "--endpoints",
        &endpoints(&[&s1, &s2]),
        "-n",
        "400",
        "--report",
        html.to_str().unwrap(),
        "--histogram-out",
        hist.to_str().unwrap(),
    ]);
    common::assert_success(&out, "hale load --report");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Breaker state per instance"));
    assert!(
        !page.contains("<script src") && !page.contains("https://"),
        "must be self-contained"
    );
    let (merged, _d2) = load(&[
        "--merge",
        hist.to_str().unwrap(),
        hist.to_str().unwrap(),
        "--output",
        "json",
    ]);
    common::assert_success(&merged, "hale load --merge");
    let doc = json(&merged);
    assert_eq!(doc["total"]["count"], 800, "two copies of 400 requests");
    assert_eq!(doc["instances"].as_object().unwrap().len(), 2);
}

/// `--merge` adds up its parts: the merged total and counts are the sums of the files'; where
/// figures cannot agree (instance rows count attempts, the total successes; an old export
/// without counts), the document says so.
#[test]
fn a_merged_run_is_the_sum_of_its_parts_or_says_what_differs() {
    let s1 = TestServer::start("m1", Behaviour::Ok);
    let s2 = TestServer::start("m2", Behaviour::Ok);
    let failing = TestServer::start("m3", Behaviour::Unavailable);
    let dir = common::tempdir();
    let export = |file: &str, list: &str, extra: &[&str]| {
        let path = dir.path().join(file);
        let mut args = vec![
            "--endpoints",
            list,
            "--histogram-out",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", "json"]);
        let (out, _d) = load(&args);
        (path, json(&out))
    };
    let merge = |paths: &[&std::path::Path], json_out: bool| {
        let mut args = vec!["--merge"];
        args.extend(paths.iter().map(|p| p.to_str().unwrap()));
        if json_out {
            args.extend_from_slice(&["--output", "json"]);
        }
        let (out, _d) = load(&args);
        common::assert_success(&out, "hale load --merge");
        out
    };
    let healthy = endpoints(&[&s1, &s2]);
    let (a, ra) = export("a.json", &healthy, &["-n", "300"]);
    let (b, rb) = export("b.json", &healthy, &["-n", "200", "-c", "3"]);
    let doc = json(&merge(&[&a, &b], true));
    let sum = |key: &str| ra[key].as_u64().unwrap() + rb[key].as_u64().unwrap();
    assert_eq!(doc["total"]["count"], sum("ok"), "{doc}");
    for key in ["requests", "ok", "errors", "retries"] {
        assert_eq!(doc["counts"][key], sum(key), "{key}: {doc}");
    }
    assert_eq!(doc["parts"][0]["counts"]["requests"], 300);
    assert_eq!(doc["parts"][1]["latencies"], rb["ok"]);
    let instance_rows: u64 = doc["instances"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        instance_rows,
        sum("ok"),
        "no failures: instance rows add up to the total"
    );
    assert_eq!(doc["differences"], serde_json::json!([]), "{doc}");

    // A run with failed attempts and retries: its instance rows hold more than its total.
    let mixed = endpoints(&[&s1, &failing]);
    let (c, rc) = export(
        "c.json",
        &mixed,
        &[
            "-n",
            "300",
            "--retries",
            "1",
            "--breaker",
            "off",
            "-s",
            "round-robin",
        ],
    );
    assert!(
        rc["errors_by_kind"]["5xx"].as_u64().unwrap() > 0 || rc["retries"].as_u64().unwrap() > 0,
        "{rc}"
    );
    let doc = json(&merge(&[&a, &c], true));
    let requests = ra["requests"].as_u64().unwrap() + rc["requests"].as_u64().unwrap();
    assert_eq!(doc["counts"]["requests"], requests);
    assert_eq!(doc["counts"]["errors"], rc["errors"]);
    assert_eq!(doc["counts"]["retries"], rc["retries"]);
    assert_eq!(
        doc["total"]["count"].as_u64().unwrap(),
        ra["ok"].as_u64().unwrap() + rc["ok"].as_u64().unwrap()
    );
    let attempts: u64 = [&ra, &rc]
        .iter()
        .flat_map(|r| r["instances"].as_array().unwrap())
        .map(|i| i["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["counts"]["attempts"], attempts, "{doc}");
    let differences = doc["differences"].to_string();
    assert!(
        differences.contains("the instance rows count attempts"),
        "{differences}"
    );
    let text = String::from_utf8_lossy(&merge(&[&a, &c], false).stdout).to_string();
    assert!(
        text.contains("\nsum ") && text.contains("note: the total counts successful requests"),
        "{text}"
    );

    // An export without counts (an older hale): named, and the counts cover the rest.
    let mut old: Value = serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("counts");
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let doc = json(&merge(&[&old_path, &b], true));
    assert_eq!(doc["counts"]["requests"], rb["requests"]);
    assert_eq!(doc["total"]["count"], sum("ok"));
    assert!(
        doc["differences"]
            .to_string()
            .contains("has no request counts"),
        "{doc}"
    );
}

// ---------------------------------------------------------------------------------------
// Fleet tests: a real generated Go service, three instances started by `hale up`,
// self-registered, discovered and followed by `hale load SERVICE`.

/// A fleet started by `hale up`; `hale down` when dropped.
struct Fleet {
    tmp: tempfile::TempDir,
    name: String,
    dir: std::path::PathBuf,
    registry: Option<String>,
}

impl Fleet {
    fn up(tag: &str, replicas: u32, registry: Option<String>) -> Fleet {
        let tmp = common::tempdir();
        let name = format!("l{}{tag}", std::process::id());
        let dir = tmp.path().join(&name);
        common::scaffold(tmp.path(), &name, &dir);
        let fleet = Fleet {
            tmp,
            name,
            dir,
            registry,
        };
        fleet.scale(replicas);
        fleet
    }

    fn scale(&self, replicas: u32) {
        let mut cmd = common::hale(self.tmp.path());
        cmd.arg("up")
            .arg(&self.dir)
            .args(["--replicas", &replicas.to_string()]);
        if let Some(r) = &self.registry {
            cmd.args(["--registry", r]);
        }
        let out = cmd.output().unwrap();
        common::assert_success(&out, "hale up");
    }

    fn id(&self, n: u32) -> String {
        format!("{}-{n}", self.name)
    }

    /// `hale load SERVICE ...` from the service folder, JSON output.
    fn load(&self, args: &[&str]) -> Output {
        self.load_command(args).output().unwrap()
    }

    /// The same, started in the background.
    fn spawn_load(&self, args: &[&str]) -> Child {
        spawn(self.load_command(args))
    }

    fn load_command(&self, args: &[&str]) -> Command {
        let mut cmd = common::hale(self.tmp.path());
        cmd.arg("load")
            .arg(&self.name)
            .args(args)
            .args(["--output", "json"]);
        if let Some(r) = &self.registry {
            cmd.args(["--registry", r]);
        }
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Requests instance `n` answered on its application routes, from its own `/metrics`.
    fn served_by(&self, n: u32) -> u64 {
        let ps = common::hale(self.tmp.path())
            .args(["ps"])
            .arg(&self.dir)
            .args(["--output", "json"])
            .output()
            .unwrap();
        let Ok(ps) = serde_json::from_slice::<Value>(&ps.stdout) else {
            return 0;
        };
        let id = self.id(n);
        let Some(addr) = ps["instances"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["id"] == id.as_str()))
            .and_then(|i| {
                let host = i["address"].as_str()?;
                host.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| format!("{host}:{}", i["port"].as_u64()?).parse().ok())
            })
        else {
            return 0;
        };
        metrics_requests(addr)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = common::hale(self.tmp.path())
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}

/// The sum of `http_requests_total` outside the operational routes, scraped from `addr`.
fn metrics_requests(addr: SocketAddr) -> u64 {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return 0;
    }
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter(|l| !l.contains("/metrics") && !l.contains("/healthz") && !l.contains("/readyz"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn by_id<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no instance {id} in {}", report["instances"]))
}

fn fleet_round_robin_is_even(fleet: &Fleet) {
    let out = fleet.load(&["-s", "round-robin", "-c", "6", "-n", "1500"]);
    let report = succeeded(&out);
    assert_eq!(report["target"]["kind"], "service");
    assert_eq!(report["errors"], 0, "{report}");
    for n in 1..=3 {
        let i = by_id(&report, &fleet.id(n));
        let share = i["share"].as_f64().unwrap();
        assert!(
            (share - 1.0 / 3.0).abs() < 0.02,
            "{}: share {share}",
            fleet.id(n)
        );
        // Every response carried the X-Instance-ID of the instance it was sent to.
        assert_eq!(i["id_mismatches"], 0);
    }
}

#[test]
fn fleet_in_file_registry_gets_even_round_robin_shares() {
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("f", 3, None);
    fleet_round_robin_is_even(&fleet);
}

/// Weights come from the registry's own metadata ("weight"): three real servers registered with
/// `hale register --meta weight=1|2|3`, in etcd and in the file registry, share the traffic
/// 1:2:3 under smooth weighted round robin.
#[test]
fn weights_in_registry_metadata_drive_weighted_round_robin() {
    let etcd = need!(Etcd);
    let state = common::tempdir();
    let registries = [
        format!("etcd://{etcd}"),
        format!("file://{}", state.path().join("registry.json").display()),
    ];
    for registry in &registries {
        let name = format!("weights-{}", std::process::id());
        let servers: Vec<_> = (1..=3)
            .map(|i| TestServer::start(&format!("{name}-{i}"), Behaviour::Ok))
            .collect();
        for (i, s) in servers.iter().enumerate() {
            let out = common::hale(state.path())
                .args([
                    "register",
                    "--once",
                    "--registry",
                    registry,
                    "--name",
                    &name,
                ])
                .args(["--id", &format!("{name}-{}", i + 1)])
                .args(["--address", &s.addr.to_string(), "--ttl", "60s"])
                .args(["--meta", &format!("weight={}", i + 1)])
                .output()
                .unwrap();
            common::assert_success(&out, "hale register");
        }
        let (out, _dir) = load(&[
            &name,
            "--registry",
            registry,
            "-s",
            "weighted-round-robin",
            "-c",
            "4",
            "-n",
            "6000",
            "--output",
            "json",
        ]);
        for i in 1..=3 {
            let _ = common::hale(state.path())
                .args(["deregister", "--registry", registry, "--name", &name])
                .args(["--id", &format!("{name}-{i}")])
                .output();
        }
        let report = json(&out);
        assert!(
            out.status.success(),
            "{registry}: {}\n{report}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(report["errors"], 0, "{registry}: {report}");
        for (i, s) in servers.iter().enumerate() {
            let inst = instance(&report, s.addr);
            let want = (i + 1) as f64 / 6.0;
            assert_eq!(inst["weight"], i as u64 + 1, "{registry}");
            assert!(
                (inst["expected_share"].as_f64().unwrap() - want).abs() < 1e-9,
                "{registry}: {inst}"
            );
            let share = inst["share"].as_f64().unwrap();
            assert!((share - want).abs() < 0.01, "{registry}: {inst}");
            assert_eq!(inst["requests"].as_u64().unwrap(), s.served(), "{registry}");
            assert_eq!(inst["id_mismatches"], 0, "{registry}");
        }
    }
}

#[test]
fn fleet_in_consul_gets_even_round_robin_shares() {
    let consul = need!(Consul);
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("c", 3, Some(format!("consul://{consul}")));
    fleet_round_robin_is_even(&fleet);
}

#[test]
fn fleet_in_etcd_gets_even_round_robin_shares() {
    let etcd = need!(Etcd);
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("e", 3, Some(format!("etcd://{etcd}")));
    fleet_round_robin_is_even(&fleet);
}

#[test]
fn killed_instance_is_cut_off_and_restored_instance_recovers() {
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("k", 3, None);
    let victim = fleet.id(2);
    let fleet_dir = fleet.dir.to_str().unwrap().to_string();
    // The restore comes 3 s after the kill, three cool-downs of the breaker; the run goes on
    // for 8 s after it, so recovering (a restarted Go process, then a probe after a cool-down)
    // fits however busy the machine is.
    let out = fleet.load(&[
        "-s",
        "round-robin",
        "-c",
        "4",
        "-d",
        "12s",
        "--breaker-open",
        "1s",
        "--fleet",
        &fleet_dir,
        "--fault",
        &format!("at=1s,kill={victim}"),
        "--fault",
        &format!("at=4s,restore={victim}"),
        "--assert",
        "recover<8s",
    ]);
    let report = json(&out);
    assert!(
        out.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures = report["resilience"].as_array().unwrap();
    eprintln!("resilience: {}", report["resilience"]);
    let kill = figures.iter().find(|f| f["kind"] == "kill").unwrap();
    let restore = figures.iter().find(|f| f["kind"] == "restore").unwrap();
    // The breaker opened after the kill and before the restore.
    let opened = kill["breaker_opened_after_ms"]
        .as_f64()
        .expect("breaker opened");
    let restored_after = restore["at_ms"].as_f64().unwrap() - kill["at_ms"].as_f64().unwrap();
    // Killed on purpose: not counted against fairness.
    assert!(
        report["fairness"]["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == victim.as_str()),
        "{}",
        report["fairness"]
    );
    assert!(by_id(&report, &victim)["expected_share"].is_null());
    assert!(
        opened < restored_after,
        "breaker opened {opened} ms after the kill, the restore came {restored_after} ms after it"
    );
    // The dead instance got only what its breaker lets through: the trip, then the probes of
    // the half-open episodes the timeline shows.
    let dead = kill["requests_to_dead"].as_u64().unwrap();
    let bound = breaker_bound(&report, &victim, 4);
    assert!(
        (1..=bound).contains(&dead),
        "{dead} requests went to the dead instance, breaker bound {bound}: {}",
        report["timeline"]
    );
    let recovered = restore["recovered_after_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("never recovered: {restore}"));
    let v = by_id(&report, &victim);
    assert_eq!(v["breaker"], "closed");
    // The restored instance takes traffic again once recovered.
    let series = report["series"].as_array().unwrap();
    let index = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i["id"] == victim)
        .unwrap();
    let since = restore["at_ms"].as_f64().unwrap() + recovered;
    let late: u64 = series
        .iter()
        .filter(|p| p["t_ms"].as_f64().unwrap() >= since)
        .map(|p| p["per_instance"][index].as_u64().unwrap_or(0))
        .sum();
    assert!(
        late > 0,
        "restored instance took no traffic after it recovered"
    );
    let timeline = report["timeline"].as_array().unwrap();
    assert!(timeline
        .iter()
        .any(|e| e["kind"] == "breaker" && e["instance"] == victim && e["state"] == "open"));
}

#[test]
fn an_instance_removed_from_the_registry_loses_its_traffic_and_its_connections() {
    let state = common::tempdir();
    let registry = format!("file://{}", state.path().join("registry.json").display());
    let name = format!("leaving-{}", std::process::id());
    let servers: Vec<_> = (1..=2)
        .map(|i| TestServer::start(&format!("{name}-{i}"), Behaviour::Ok))
        .collect();
    let register = |i: usize, s: &TestServer| {
        let out = common::hale(state.path())
            .args(["register", "--once", "--registry", &registry])
            .args(["--name", &name, "--id", &format!("{name}-{i}")])
            .args(["--address", &s.addr.to_string(), "--ttl", "300s"])
            .output()
            .unwrap();
        common::assert_success(&out, "hale register");
    };
    register(1, &servers[0]);
    register(2, &servers[1]);
    let leaving = &servers[1];
    let (child, _dir) = spawn_load(&[
        &name,
        "--registry",
        &registry,
        "-s",
        "round-robin",
        "-c",
        "4",
        "-d",
        "120s",
    ]);
    assert!(
        wait_until(|| leaving.open_connections() > 0 && leaving.served() > 0),
        "the load never reached {name}-2"
    );
    let out = common::hale(state.path())
        .args(["deregister", "--registry", &registry, "--name", &name])
        .args(["--id", &format!("{name}-2")])
        .output()
        .unwrap();
    common::assert_success(&out, "hale deregister");
    // The run closes its connections to the removed instance while it goes on.
    let closed = wait_until(|| leaving.open_connections() == 0);
    let served_then = leaving.served();
    let staying_then = servers[0].served();
    // ... and keeps loading the one that stays: 500 more requests there, none to the other.
    let out = interrupt_when(child, "500 more requests to the staying instance", || {
        servers[0].served() >= staying_then + 500
    });
    let report = json(&out);
    assert!(
        closed,
        "connections to the removed instance stayed open during the run"
    );
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(leaving.served(), served_then, "traffic after removal");
    assert!(report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "removed" && e["instance"] == format!("{name}-2")));
}

#[test]
fn instance_added_mid_run_starts_taking_traffic() {
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("a", 2, None);
    let child = fleet.spawn_load(&["-s", "round-robin", "-c", "4", "-d", "120s"]);
    // Once the run loads the first two, a third instance starts; it counts what it answered on
    // its own /metrics, and once that is 20 the run is stopped.
    let mut scaled = false;
    let out = interrupt_when(child, "20 requests to the added instance", || {
        if !scaled {
            if fleet.served_by(1) > 0 {
                fleet.scale(3);
                scaled = true;
            }
            return false;
        }
        fleet.served_by(3) > 20
    });
    let report = json(&out);
    let added = by_id(&report, &fleet.id(3));
    assert!(added["requests"].as_u64().unwrap() > 20, "{added}");
    assert!(report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "added" && e["instance"] == fleet.id(3)));
}

#[test]
fn unknown_service_and_unreachable_registry_get_one_clear_line() {
    let dir = common::tempdir();
    let out = common::hale(dir.path())
        .args(["load", "no-such-service", "-d", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no instances of service \"no-such-service\""),
        "{stderr}"
    );

    let port = common::free_port();
    let out = common::hale(dir.path())
        .args([
            "load",
            "orders",
            "-d",
            "1s",
            "--registry",
            &format!("consul://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
}

#[test]
fn error_rate_fault_engages_adaptive_throttling_on_that_instance() {
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("t", 3, None);
    let sick = fleet.id(1);
    let fleet_dir = fleet.dir.to_str().unwrap().to_string();
    let out = fleet.load(&[
        "-s",
        "round-robin",
        "--breaker",
        "adaptive",
        "-c",
        "4",
        "-d",
        "3s",
        "--fleet",
        &fleet_dir,
        "--fault",
        &format!("at=1s,error-rate={sick}:1"),
    ]);
    let report = json(&out);
    assert!(
        out.status.success(),
        "{}\n{report}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["protection"], "adaptive");
    let figure = &report["resilience"][0];
    assert_eq!(figure["kind"], "error-rate");
    assert!(
        figure["breaker_opened_after_ms"].as_f64().is_some(),
        "throttling never engaged: {figure}"
    );
    let s = by_id(&report, &sick);
    // The throttle drops most of the sick instance's requests locally once engaged.
    assert!(s["errors"]["breaker-rejected"].as_u64().unwrap() > 0, "{s}");
    assert!(s["errors"]["5xx"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["breaker"], "open", "still throttling at the end: {s}");
}

#[test]
fn sigint_or_sigterm_stops_the_run_prints_the_report_and_exits_130() {
    let s = TestServer::start("s", Behaviour::Ok);
    for signal in ["-INT", "-TERM"] {
        let (child, _dir) =
            spawn_load(&["--endpoints", &s.addr.to_string(), "-c", "2", "-d", "120s"]);
        let before = s.served();
        let out = interrupt_with(child, signal, "the first request", || s.served() > before);
        let report = json(&out);
        assert!(report["requests"].as_u64().unwrap() > 0, "{signal}");
        // Stopped well before its own end.
        assert!(report["duration_s"].as_f64().unwrap() < 120.0, "{signal}");
        assert_eq!(
            report["interrupted"], true,
            "{signal}: the JSON says the run was cut short"
        );
    }
}

#[test]
fn repeated_events_collapse_into_one_timeline_entry_with_a_count() {
    let port = common::free_port();
    let (out, _dir) = load(&[
        "--endpoints",
        &format!("127.0.0.1:{port}"),
        "-d",
        "1s",
        "-c",
        "2",
        "--output",
        "json",
    ]);
    let report = json(&out);
    let timeline = report["timeline"].as_array().unwrap();
    let events = report["timeline_events"].as_u64().unwrap();
    // Every failure past the trip asks to eject the one instance and is refused.
    assert!(events > 100, "{events} events");
    assert!(timeline.len() <= 5, "{} timeline entries", timeline.len());
    let refused = timeline
        .iter()
        .find(|e| e["kind"] == "ejection-refused")
        .expect("a refused ejection");
    let count = refused["count"].as_u64().unwrap();
    assert!(count > 100, "{refused}");
    assert!(refused["first_ms"].as_f64().unwrap() < refused["last_ms"].as_f64().unwrap());
    assert_eq!(
        refused["t_ms"], refused["first_ms"],
        "t_ms stays the first time"
    );
    let counted: u64 = timeline.iter().map(|e| e["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, events, "no event lost in collapsing");

    let (out, _dir) = load(&[
        "--endpoints",
        &format!("127.0.0.1:{port}"),
        "-d",
        "1s",
        "-c",
        "2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ejection-refused"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains("ejection-refused ×"), "{}", lines[0]);
}

#[test]
fn a_run_where_nothing_answers_exits_1_naming_the_cause() {
    let port = common::free_port();
    let target = format!("127.0.0.1:{port}");
    for model in [&["-c", "2"][..], &["--rate", "200"][..]] {
        let (out, _dir) = load(&[&["--endpoints", &target, "-d", "1s"][..], model].concat());
        assert_eq!(out.status.code(), Some(1), "{model:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.trim().lines().last().unwrap();
        assert!(
            last.ends_with(&format!("nothing answered at {target}: connection refused")),
            "{model:?}: {stderr}"
        );
        // The report is still printed, for the figures.
        assert!(String::from_utf8_lossy(&out.stdout).contains("errors: connect"));
    }
}

#[test]
fn a_target_that_goes_away_for_good_exits_1() {
    let s = TestServer::start("s", Behaviour::Ok);
    let dir = common::tempdir();
    let child = common::hale(dir.path())
        .args(["load", "--endpoints", &s.addr.to_string(), "-c", "2"])
        .args(["-d", "3s", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has answered, then take it away for the rest of the run.
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.served() < 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    s.kill();
    let out = child.wait_with_output().unwrap();
    let report = json(&out);
    assert!(report["ok"].as_u64().unwrap() > 0, "it answered at first");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} stopped answering at ", s.addr))
            && stderr.contains("did not come back: connection refused"),
        "{stderr}"
    );
}

#[test]
fn assertion_results_carry_their_unit_in_text_and_json() {
    let s = TestServer::start("s", Behaviour::Ok);
    let args = [
        "--endpoints",
        &s.addr.to_string(),
        "-n",
        "200",
        "-c",
        "2",
        "--assert",
        "errors<1%",
        "--assert",
        "p99<5s",
        "--assert",
        "rps>1",
    ];
    let (out, _dir) = load(&args);
    common::assert_success(&out, "hale load --assert");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pass errors<1%  (actual 0 %)"), "{text}");
    let p99 = text.lines().find(|l| l.contains("p99<5s")).unwrap();
    assert!(p99.ends_with(" ms)"), "{p99}");
    let (out, _dir) = load(&[&args[..], &["--output", "json"]].concat());
    let report = succeeded(&out);
    let results = report["assertions"].as_array().unwrap();
    assert_eq!(results[0]["value"], 0.0);
    assert_eq!(results[0]["unit"], "%");
    assert_eq!(results[1]["unit"], "ms");
    assert_eq!(results[2]["unit"], "req/s");
    assert_eq!(report["interrupted"], false);
}

#[test]
fn a_ramp_profile_reads_as_a_ramp_in_the_header() {
    let s = TestServer::start("s", Behaviour::Ok);
    let (out, _dir) = load(&[
        "--endpoints",
        &s.addr.to_string(),
        "--profile",
        "ramp:100-300",
        "-d",
        "1s",
    ]);
    common::assert_success(&out, "hale load --profile");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("model open ramp 100→300 req/s, constant arrivals"),
        "{text}"
    );
}

/// Headless Chromium with everything that could reach the network switched off and a fresh
/// profile; `args` say what to do with `page`.
fn chromium(chromium: &str, page: &std::path::Path, args: &[&str]) -> Output {
    let profile = common::tempdir();
    std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

#[test]
fn html_report_renders_in_headless_chromium_with_every_section() {
    let chromium_path = need!(Chromium);
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("h", 3, None);
    let victim = fleet.id(2);
    let fleet_dir = fleet.dir.to_str().unwrap().to_string();
    let html = fleet.tmp.path().join("report.html");
    let out = fleet.load(&[
        "-s",
        "round-robin",
        "--rate",
        "400",
        "-d",
        "5s",
        "--breaker-open",
        "1s",
        "--fleet",
        &fleet_dir,
        "--fault",
        &format!("at=1s,kill={victim}"),
        "--fault",
        &format!("at=2500ms,restore={victim}"),
        "--assert",
        "recover<2500ms",
        "--assert",
        "errors<5%",
        "--report",
        html.to_str().unwrap(),
    ]);
    common::assert_success(&out, "hale load --report");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("<script src") && !page.contains("https://") && !page.contains("<link"),
        "one self-contained file"
    );
    // Named fault markers on the charts, both palettes' legends, the time axis.
    assert!(
        page.contains(&format!("kill {victim}</text>")),
        "named marker"
    );
    assert!(page.contains(&format!("restore {victim}</text>")));
    assert!(page.contains("time since start (s)"));

    let dom = chromium(&chromium_path, &html, &["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert!(
        !dom_text.contains("<html data-script-error="),
        "script error: {dom_text}"
    );
    assert!(
        dom_text.contains(r#"data-status="ok""#),
        "status: {dom_text}"
    );
    let sections = dom_text
        .split(r#"data-sections=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    for section in [
        "summary",
        "latency",
        "errors",
        "instances",
        "fairness",
        "chart-latency-section",
        "chart-throughput-section",
        "chart-share-section",
        "chart-breaker-section",
        "resilience",
        "assertions",
        "timeline",
    ] {
        assert!(
            sections.split(' ').any(|s| s == section),
            "{section} missing from {sections}"
        );
    }
    assert!(dom_text.contains(r#"data-charts-drawn="4""#), "{dom_text}");

    let shot = fleet.tmp.path().join("load-report.png");
    let screenshot = chromium(
        &chromium_path,
        &html,
        &[
            "--window-size=1400,2600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        screenshot.status.success(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    // HALE_UPDATE_DOCS=1 refreshes the screenshot docs/commands/load.md shows.
    if std::env::var("HALE_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        let docs =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/commands/load-report.png");
        std::fs::write(docs, png).unwrap();
    }
}

#[test]
fn https_target_trusted_by_cacert_reuses_connections_and_reports_handshake_time() {
    let server = TlsTestServer::start();
    let dir = common::tempdir();
    let ca = server.trust_file(dir.path());
    let args = [
        "--url",
        &server.url(),
        "--cacert",
        ca.to_str().unwrap(),
        "-c",
        "2",
        "-n",
        "400",
    ];
    let (out, _d) = load(&[&args[..], &["--output", "json"]].concat());
    let report = succeeded(&out);
    assert_eq!(report["ok"], 400, "{report}");
    assert_eq!(server.served.load(Ordering::Relaxed), 400);
    // Kept alive as over HTTP: one connection per worker, each with one handshake.
    let accepted = server.accepted.load(Ordering::Relaxed);
    assert_eq!(report["connections"], accepted, "{report}");
    assert!(accepted <= 2, "{accepted} connections for 2 workers");
    let handshake = &report["tls"]["handshake"];
    assert_eq!(handshake["count"], accepted, "{report}");
    assert!(handshake["p50"].as_f64().unwrap() > 0.0);

    let (out, _d) = load(&args);
    common::assert_success(&out, "hale load https");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TLS handshake ms p50 "), "{text}");
}

#[test]
fn a_self_signed_ca_certificate_given_with_cacert_is_pinned() {
    let server = TlsTestServer::start_with_a_ca_certificate();
    let dir = common::tempdir();
    let ca = server.trust_file(dir.path());
    let args = [
        "--url",
        &server.url(),
        "--cacert",
        ca.to_str().unwrap(),
        "-c",
        "1",
        "-n",
        "20",
    ];
    let (out, _d) = load(&[&args[..], &["--output", "json"]].concat());
    let report = succeeded(&out);
    assert_eq!(report["ok"], 20, "{report}");
    assert_eq!(server.served.load(Ordering::Relaxed), 20);
    // Another server's certificate of the same kind is still refused.
    let other = TlsTestServer::start_with_a_ca_certificate();
    let url = other.url();
    let (out, _d) = load(&[
        "--url",
        &url,
        "--cacert",
        ca.to_str().unwrap(),
        "-c",
        "1",
        "-d",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(other.served.load(Ordering::Relaxed), 0);
}

#[test]
fn https_target_with_an_untrusted_certificate_fails_unless_insecure() {
    let server = TlsTestServer::start();
    let url = server.url();
    // The system roots do not know the test's certificate: nothing succeeds, exit 1.
    let (out, _d) = load(&["--url", &url, "-c", "1", "-d", "1s", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS handshake failed"), "{stderr}");
    assert!(json(&out)["errors_by_kind"]["tls"].as_u64().unwrap() > 0);

    let (out, _d) = load(&["--url", &url, "--insecure", "-c", "1", "-n", "50"]);
    common::assert_success(&out, "hale load --insecure");
    assert_eq!(server.served.load(Ordering::Relaxed), 50);

    // --cacert is for https:// only; an unreadable one is named before any request.
    let (out, _d) = load(&["--url", "http://127.0.0.1:1/", "--insecure", "-n", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let (out, _d) = load(&["--url", &url, "--cacert", "/nonexistent/ca.pem", "-n", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--cacert /nonexistent/ca.pem"), "{stderr}");
    assert_eq!(server.served.load(Ordering::Relaxed), 50, "no request sent");
}

/// HTTPS for registry targets: two TLS servers in the file registry, one marked by meta
/// `scheme=https`, one by the Consul-style tag `https`; `--cacert` applies to both.
#[test]
fn registry_instances_marked_https_are_loaded_over_tls_with_cacert() {
    let state = common::tempdir();
    let registry = format!("file://{}", state.path().join("registry.json").display());
    let name = format!("tls-{}", std::process::id());
    let servers = [TlsTestServer::start(), TlsTestServer::start()];
    let ca = state.path().join("ca.pem");
    std::fs::write(
        &ca,
        format!("{}{}", servers[0].cert_pem, servers[1].cert_pem),
    )
    .unwrap();
    for (i, (server, mark)) in servers
        .iter()
        .zip([["--meta", "scheme=https"], ["--tag", "https"]])
        .enumerate()
    {
        let out = common::hale(state.path())
            .args([
                "register",
                "--once",
                "--registry",
                &registry,
                "--name",
                &name,
            ])
            .args(["--id", &format!("{name}-{i}")])
            .args(["--address", &server.addr.to_string(), "--ttl", "60s"])
            .args(mark)
            .output()
            .unwrap();
        common::assert_success(&out, "hale register");
    }
    let run = |extra: &[&str]| {
        let mut args = vec![name.as_str(), "--registry", &registry, "-c", "2"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--output", "json"]);
        load(&args)
    };

    let (out, _d) = run(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-n",
        "300",
        "-s",
        "round-robin",
    ]);
    let report = succeeded(&out);
    assert_eq!(report["ok"], 300, "{report}");
    let served: Vec<u64> = servers
        .iter()
        .map(|s| s.served.load(Ordering::Relaxed))
        .collect();
    assert_eq!(served.iter().sum::<u64>(), 300, "{served:?}");
    assert!(
        served.iter().all(|&n| n > 0),
        "both instances served: {served:?}"
    );
    assert_eq!(
        report["tls"]["handshake"]["count"], report["connections"],
        "every connection made a TLS handshake: {report}"
    );

    // Not trusted by the system's roots: nothing succeeds, exit 1, errors of kind tls.
    let (out, _d) = run(&["-n", "20"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json(&out)["errors_by_kind"]["tls"].as_u64().unwrap() > 0);
    // --scheme http overrides what the instances say: plain HTTP to a TLS port fails.
    let (out, _d) = run(&["--scheme", "http", "-n", "20"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["errors_by_kind"]["tls"], 0);
    // --cacert with --scheme http has no HTTPS target to apply to.
    let (out, _d) = run(&[
        "--scheme",
        "http",
        "--cacert",
        ca.to_str().unwrap(),
        "-n",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cacert and --insecure are for HTTPS"));
    let before: u64 = servers
        .iter()
        .map(|s| s.served.load(Ordering::Relaxed))
        .sum();
    assert_eq!(before, 300, "the failed runs were served nothing");

    // --endpoints with --scheme https, and --insecure.
    let list = format!("{},{}", servers[0].addr, servers[1].addr);
    let (out, _d) = load(&[
        "--endpoints",
        &list,
        "--scheme",
        "https",
        "--insecure",
        "-n",
        "100",
        "--output",
        "json",
    ]);
    assert_eq!(succeeded(&out)["ok"], 100);
    let (out, _d) = load(&["--endpoints", &list, "--insecure", "-n", "1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--insecure without an HTTPS target"
    );
}

/// The live view counts a tick only once every worker has closed it: each figure it showed
/// during a real run equals the report's figure for the same ticks (series), with workers
/// out of step (one instance answers slowly).
#[test]
fn live_figures_equal_the_reports_figures_for_the_same_ticks() {
    use hale::load::{self, Endpoint, LoadOptions, Model, Targets};
    use hale::progress::{Event, Progress};

    let fast = TestServer::start("fast", Behaviour::Ok);
    let slow = TestServer::start("slow", Behaviour::Slow(Duration::from_millis(7)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let endpoints = [&fast, &slow]
        .iter()
        .map(|s| Endpoint {
            id: s.addr.to_string(),
            addr: s.addr,
            weight: 1,
            check_id: false,
            tls: None,
            authority: s.addr.to_string(),
        })
        .collect();
    let options = LoadOptions {
        model: Model::Closed { concurrency: 6 },
        duration: Some(Duration::from_secs(3)),
        ..LoadOptions::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let outcome = runtime
        .block_on(load::run(
            options.clone(),
            Targets::Fixed(endpoints),
            None,
            &Progress::to_channel(tx),
            &hale::stop::Stop::new(),
        ))
        .unwrap();
    let report = load::Report::build(
        &outcome,
        &options,
        load::report::TargetInfo {
            kind: "endpoints".into(),
            service: None,
            registry: None,
            method: "GET".into(),
            path: "/".into(),
        },
        &[],
    );
    let series = &report.series;
    let span = (1000.0 / report.tick_ms) as usize;
    let mut lines = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let Event::Live(line) = event {
            lines.push(line);
        }
    }
    // "1.2s/3s  4567 requests  3800 req/s  p99 ..."
    let figure = |line: &str, unit: &str| -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == unit).unwrap();
        words[at - 1].to_string()
    };
    let mut compared = 0;
    for line in &lines {
        let requests: u64 = figure(line, "requests").parse().unwrap();
        if requests == 0 {
            continue;
        }
        // The closed ticks the line covered: the prefix of the series with that many requests.
        let ends: Vec<usize> = (1..=series.len())
            .filter(|&end| {
                series[..end]
                    .iter()
                    .map(|p| u64::from(p.requests))
                    .sum::<u64>()
                    == requests
            })
            .collect();
        assert!(
            !ends.is_empty(),
            "{line:?}: no prefix of the report's ticks has {requests} requests"
        );
        let matches = ends.iter().any(|&end| {
            let window = &series[end.saturating_sub(span)..end];
            let rps = window.iter().map(|p| p.rps).sum::<f64>() / window.len() as f64;
            format!("{rps:.0}") == figure(line, "req/s")
        });
        assert!(
            matches,
            "{line:?}: the report's rate over the same ticks differs"
        );
        compared += 1;
    }
    assert!(compared >= 2, "a 3 s run showed live figures: {lines:?}");
}

impl Fleet {
    /// The faults `hale ps` reports on instance `n` now (its `faults` field).
    fn faults_of(&self, n: u32) -> Value {
        let out = common::hale(self.tmp.path())
            .args(["ps"])
            .arg(&self.dir)
            .args(["--output", "json"])
            .output()
            .unwrap();
        common::assert_success(&out, "hale ps");
        let ps: Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = self.id(n);
        ps["instances"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["id"] == id.as_str()))
            .map(|i| i["faults"].clone())
            .unwrap_or(Value::Null)
    }

    fn fault_on(&self, n: u32) -> bool {
        let f = self.faults_of(n);
        f["error_rate"].as_f64().unwrap_or(0.0) > 0.0 || f["latency_ms"].as_u64().unwrap_or(0) > 0
    }
}

#[test]
fn injected_faults_are_undone_at_the_end_on_ctrl_c_and_on_sigterm_unless_kept() {
    if common::service(common::Service::Go).is_none() {
        return;
    }
    let fleet = Fleet::up("u", 2, None);
    let fleet_dir = fleet.dir.to_str().unwrap().to_string();
    let faults = [
        format!("at=0s,error-rate={}:0.5", fleet.id(1)),
        format!("at=0s,latency={}:5ms", fleet.id(2)),
    ];
    let args = |duration: &'static str, keep: bool| {
        let mut a = vec![
            "-s".to_string(),
            "round-robin".into(),
            "-c".into(),
            "2".into(),
            "-d".into(),
            duration.into(),
            "--fleet".into(),
            fleet_dir.clone(),
        ];
        for f in &faults {
            a.extend(["--fault".to_string(), f.clone()]);
        }
        if keep {
            a.push("--keep-faults".into());
        }
        a
    };

    // A run that ends by itself resets what it injected; ps shows the faults as zero.
    let a = args("2s", false);
    let out = fleet.load(&refs(&a));
    assert!(
        out.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in 1..=2 {
        let f = fleet.faults_of(n);
        assert_eq!(f["error_rate"].as_f64(), Some(0.0), "instance {n}: {f}");
        assert_eq!(f["latency_ms"].as_u64(), Some(0), "instance {n}: {f}");
    }

    // --keep-faults leaves them on, and ps shows them.
    let a = args("2s", true);
    let _ = fleet.load(&refs(&a));
    assert_eq!(fleet.faults_of(1)["error_rate"].as_f64(), Some(0.5));
    assert_eq!(fleet.faults_of(2)["latency_ms"].as_u64(), Some(5));
    let text = common::hale(fleet.tmp.path())
        .arg("ps")
        .arg(&fleet.dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("FAULTS"), "{text}");
    assert!(text.contains("error-rate=0.5"), "{text}");
    assert!(text.contains("latency=5ms"), "{text}");

    // Ctrl-C and SIGTERM: the run is stopped once its faults are on, and still undoes them.
    for signal in ["-INT", "-TERM"] {
        let a = args("300s", false);
        // Start from no faults, so "on" below is this run's doing.
        let _ = fleet.load(&refs(&args("1s", false)));
        assert!(!fleet.fault_on(1) && !fleet.fault_on(2), "{signal}");
        let child = fleet.spawn_load(&refs(&a));
        let _ = interrupt_with(child, signal, "the faults to be on", || {
            fleet.fault_on(1) && fleet.fault_on(2)
        });
        assert!(!fleet.fault_on(1), "{signal}: {}", fleet.faults_of(1));
        assert!(!fleet.fault_on(2), "{signal}: {}", fleet.faults_of(2));
    }
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

#[test]
fn an_output_path_that_cannot_be_written_is_refused_before_any_request() {
    let s = TestServer::start("w", Behaviour::Ok);
    for flag in ["--report", "--histogram-out"] {
        let (out, dir) = load(&[
            "--endpoints",
            &s.addr.to_string(),
            "-n",
            "50",
            flag,
            "/nonexistent-hale-dir/out.file",
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{flag}: {err}");
        assert!(err.contains(flag), "{flag}: {err}");
        assert_eq!(s.served(), 0, "{flag}: a request was sent");
        // A folder given as the file is refused too.
        let (out, _) = load(&[
            "--endpoints",
            &s.addr.to_string(),
            "-n",
            "50",
            flag,
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} on a folder");
        assert_eq!(s.served(), 0, "{flag}: a request was sent");
    }
}

#[test]
fn verbose_shows_hales_own_debug_events_on_stderr_and_nothing_without_it() {
    let server = TestServer::start("v", Behaviour::Ok);
    let target = server.addr.to_string();
    let (quiet, _d1) = load(&["--endpoints", &target, "-n", "3", "-c", "1"]);
    let (verbose, _d2) = load(&["-v", "--endpoints", &target, "-n", "3", "-c", "1"]);
    assert!(quiet.status.success() && verbose.status.success());
    let quiet = String::from_utf8_lossy(&quiet.stderr);
    let verbose = String::from_utf8_lossy(&verbose.stderr);
    assert!(!quiet.contains("DEBUG"), "{quiet}");
    assert!(
        verbose.contains("DEBUG hale::load::job: target")
            && verbose.contains(&format!("host={target}"))
            && verbose.contains("DEBUG hale::load::run: starting the run"),
        "{verbose}"
    );
    // -v is hale's own events only: no library's.
    assert!(
        verbose
            .lines()
            .filter(|l| l.contains("DEBUG"))
            .all(|l| l.contains("DEBUG hale::")),
        "{verbose}"
    );
}
