//! `hale load --grpc` against the generated gRPC service (`hale new --grpc`, built and run as a
//! plain process on 127.0.0.1): descriptors from its server reflection instead of `--proto`,
//! `-H` sent as gRPC metadata and checked before anything is sent, and TLS with ALPN h2 against
//! the service's own TLS listener.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use crate::grpc::{generate, go};

const INFO: &str = "orders.v1.OrderService/Info";

/// `hale new orders --grpc` built into `tmp/orders/bin/orders`.
fn built(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = generate(tmp, "orders");
    let binary = dir.join("bin/orders");
    go(
        &dir,
        &["build", "-o", binary.to_str().unwrap(), "./cmd/orders"],
    );
    (dir, binary)
}

/// A running instance of the service, killed when dropped; its log lines go to `log`.
struct Instance {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Instance {
    fn start(binary: &Path, log: PathBuf, env: &[(&str, &str)]) -> Instance {
        let port = common::free_port();
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("DRAIN_DELAY", "0s")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let instance = Instance {
            child: cmd.spawn().unwrap(),
            port,
            log,
        };
        // Listening: a TCP connection is accepted (the gRPC server and health start with it).
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the service never listened on {port}: {}",
                instance.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        instance
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hale load ARGS --output json`, its output and report (Null when stdout is not JSON).
fn load(tmp: &Path, dir: &Path, args: &[&str]) -> (Output, Value) {
    let out = common::hale(tmp)
        .arg("load")
        .args(args)
        .args(["--output", "json"])
        .current_dir(dir)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Without `--proto` the method's descriptors come from the service's reflection
/// (GRPC_REFLECTION=true) and the calls succeed; `-H` metadata reaches the service (its call
/// log carries the trace id of the `traceparent` sent, and a `-bin` value is accepted). A
/// service without reflection is refused in one line, exit 2, before any call.
#[test]
fn load_grpc_without_proto_uses_server_reflection_and_sends_metadata() {
    need!(Go);
    let tmp = common::tempdir();
    let (dir, binary) = built(tmp.path());
    let reflecting = Instance::start(
        &binary,
        tmp.path().join("reflecting.log"),
        // Finished OK calls are logged at debug.
        &[("GRPC_REFLECTION", "true"), ("LOG_LEVEL", "debug")],
    );
    let endpoint = format!("127.0.0.1:{}", reflecting.port);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("traceparent: 00-{trace}-00f067aa0ba902b7-01");
    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            INFO,
            "-H",
            &traceparent,
            "-H",
            "x-tenant-bin: AAEC/w==",
            "-c",
            "2",
            "-n",
            "200",
        ],
    );
    common::assert_success(&out, "hale load --grpc (reflection)");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["requests"], 200, "{report}");
    assert_eq!(report["target"]["method"], "gRPC", "{report}");
    assert!(
        reflecting.log().contains("OrderService"),
        "calls are logged: {}",
        reflecting.log()
    );
    assert_eq!(report["target"]["path"], format!("/{INFO}"), "{report}");
    // The logging interceptor writes one line per finished call with the caller's trace id.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reflecting.log().contains(trace) {
        assert!(
            Instant::now() < deadline,
            "no call logged with trace_id {trace}: {}",
            reflecting.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A first endpoint that cannot be reached: the next one's reflection is asked, and the run
    // goes on (its calls to the closed port fail, the others succeed).
    let closed = format!("127.0.0.1:{}", common::free_port());
    let both = format!("{closed},{endpoint}");
    let (out, report) = load(
        tmp.path(),
        &dir,
        &["--endpoints", &both, "--grpc", INFO, "-n", "100"],
    );
    assert!(
        !stderr(&out).contains("gRPC reflection"),
        "{}",
        stderr(&out)
    );
    let reached = report["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {}", stderr(&out)))
        .iter()
        .find(|i| i["id"] == endpoint.as_str())
        .unwrap_or_else(|| panic!("{endpoint} not in {report}"))
        .clone();
    assert!(reached["ok"].as_u64().unwrap() > 0, "{reached}");

    // The request body is checked against the reflected descriptors: the user's mistake.
    let (out, _) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            "orders.v1.OrderService/CreateItem",
            "--body",
            r#"{"nom":1}"#,
            "-n",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--body is not JSON of a orders.v1.CreateItemRequest"),
        "{}",
        stderr(&out)
    );
    // A method the reflected service does not have names the ones it has.
    let (out, _) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            "orders.v1.OrderService/Nope",
            "-n",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(INFO), "{}", stderr(&out));
    drop(reflecting);

    // Reflection is off by default: one line, exit 2, and not one call reached the service.
    let plain = Instance::start(
        &binary,
        tmp.path().join("plain.log"),
        &[("LOG_LEVEL", "debug")],
    );
    let endpoint = format!("127.0.0.1:{}", plain.port);
    let (out, report) = load(
        tmp.path(),
        &dir,
        &["--endpoints", &endpoint, "--grpc", INFO, "-d", "2s"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("does not serve gRPC server reflection"),
        "{err}"
    );
    assert!(err.contains("--proto"), "{err}");
    assert_eq!(report, Value::Null, "no report for a refused run");
    assert!(
        !plain.log().contains("OrderService"),
        "a call reached the service: {}",
        plain.log()
    );
    // With --proto the same service is loaded.
    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            INFO,
            "--proto",
            "api/orders/v1/orders.proto",
            "-n",
            "50",
        ],
    );
    common::assert_success(&out, "hale load --grpc --proto");
    assert_eq!(report["errors"], 0, "{report}");

    // Nothing listening: a failed operation, exit 1.
    let closed = format!("127.0.0.1:{}", common::free_port());
    let (out, _) = load(
        tmp.path(),
        &dir,
        &["--endpoints", &closed, "--grpc", INFO, "-n", "1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gRPC reflection from"), "{err}");
}

/// A gRPC server that serves orders.v1.OrderService/Info and, of server reflection, only the
/// older grpc.reflection.v1alpha (as grpc-go servers before v1.57 and many others still do). It
/// listens on HOST:PORT and prints every stream it is asked to open, the unknown ones too.
const V1ALPHA_ONLY_SERVER: &str = r#"package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	ordersv1 "MODULE/api/orders/v1"
)

type orders struct{ ordersv1.UnimplementedOrderServiceServer }

func (orders) Info(context.Context, *ordersv1.InfoRequest) (*ordersv1.InfoResponse, error) {
	return &ordersv1.InfoResponse{Service: "orders", Instance: "v1alpha-only"}, nil
}

func main() {
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := grpc.NewServer(
		grpc.StreamInterceptor(func(s any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			fmt.Println("stream", info.FullMethod)
			return next(s, ss)
		}),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
			return status.Error(codes.Unimplemented, "unknown service")
		}),
	)
	ordersv1.RegisterOrderServiceServer(srv, orders{})
	reflectionv1alpha.RegisterServerReflectionServer(srv, reflection.NewServer(reflection.ServerOptions{Services: srv}))
	_ = srv.Serve(ln)
}
"#;

/// Without `--proto`, against a server whose reflection is v1alpha alone: the v1 stream is
/// refused (Unimplemented), hale asks v1alpha, finds the method and every call succeeds; a
/// method the service lacks is refused naming the ones v1alpha listed.
#[test]
fn load_grpc_without_proto_falls_back_to_v1alpha_reflection() {
    need!(Go);
    let tmp = common::tempdir();
    let dir = generate(tmp.path(), "orders");
    let go_mod = std::fs::read_to_string(dir.join("go.mod")).unwrap();
    let module = go_mod
        .lines()
        .find_map(|l| l.strip_prefix("module "))
        .expect("go.mod names its module")
        .trim();
    let main = dir.join("cmd/v1alphaonly/main.go");
    std::fs::create_dir_all(main.parent().unwrap()).unwrap();
    std::fs::write(&main, V1ALPHA_ONLY_SERVER.replace("MODULE", module)).unwrap();
    let binary = dir.join("bin/v1alphaonly");
    go(
        &dir,
        &["build", "-o", binary.to_str().unwrap(), "./cmd/v1alphaonly"],
    );
    let server = Instance::start(&binary, tmp.path().join("v1alpha.log"), &[]);
    let endpoint = format!("127.0.0.1:{}", server.port);

    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            INFO,
            "-c",
            "2",
            "-n",
            "100",
        ],
    );
    common::assert_success(&out, "hale load --grpc (v1alpha reflection)");
    assert_eq!(report["requests"], 100, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["instances"][0]["ok"], 100, "{report}");
    let log = server.log();
    let v1 = "stream /grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
    let v1alpha = "stream /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
    let (asked_v1, asked_v1alpha) = (log.find(v1), log.find(v1alpha));
    assert!(
        asked_v1.is_some() && asked_v1alpha.is_some() && asked_v1 < asked_v1alpha,
        "v1 asked first, then v1alpha: {log}"
    );

    let (out, _) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--grpc",
            "orders.v1.OrderService/Nope",
            "-n",
            "1",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(INFO), "{err}");
}

/// Metadata that gRPC does not allow is refused when the flags are read: one line, exit 2,
/// before any connection (the endpoint is a closed port, which would otherwise be exit 1).
#[test]
fn load_grpc_refuses_metadata_grpc_does_not_allow() {
    let tmp = common::tempdir();
    let closed = format!("127.0.0.1:{}", common::free_port());
    for (header, says) in [
        ("grpc-timeout: 1S", "reserved"),
        ("x!y: 1", "not allowed in a gRPC metadata key"),
        ("content-type: text/plain", "set by hale"),
        ("trace-bin: not base64!", "base64"),
        (":authority: x", "header name"),
    ] {
        let out = common::hale(tmp.path())
            .args(["load", "--endpoints", &closed, "--grpc", INFO, "-H", header])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{header}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{header}: {err}");
        assert!(err.contains(says), "{header}: {err}");
    }
}

/// A CA and a certificate for 127.0.0.1 it signed, written into `dir`: (ca, cert, key).
pub(crate) fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hale test gRPC CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// The service with TLS_CERT_FILE/TLS_KEY_FILE serves gRPC over TLS (ALPN h2): an https:// URL
/// with --cacert loads it without an error, from its reflection and from --proto alike, and
/// the report counts the TLS handshakes; `--scheme https` and a registry instance marked HTTPS
/// alike. With another CA the reflection's handshake fails:
/// exit 1 with its cause; with --proto every call is a TLS failure.
#[test]
fn load_grpc_over_tls_with_alpn_h2_against_the_services_tls_listener() {
    need!(Go);
    let tmp = common::tempdir();
    let (dir, binary) = built(tmp.path());
    let (ca, cert, key) = tls_files(tmp.path());
    let instance = Instance::start(
        &binary,
        tmp.path().join("tls.log"),
        &[
            ("GRPC_REFLECTION", "true"),
            ("TLS_CERT_FILE", cert.to_str().unwrap()),
            ("TLS_KEY_FILE", key.to_str().unwrap()),
        ],
    );
    let url = format!("https://127.0.0.1:{}", instance.port);
    let ca = ca.to_str().unwrap();
    for proto in [None, Some("api/orders/v1/orders.proto")] {
        let mut args = vec!["--url", &url, "--grpc", INFO, "--cacert", ca];
        args.extend(["-c", "2", "-n", "200"]);
        if let Some(p) = proto {
            args.extend(["--proto", p]);
        }
        let (out, report) = load(tmp.path(), &dir, &args);
        common::assert_success(&out, &format!("hale load --grpc over TLS ({proto:?})"));
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["requests"], 200, "{report}");
        assert!(
            report["tls"]["handshake"]["count"].as_u64().unwrap_or(0) >= 1,
            "TLS handshakes counted: {}",
            report["tls"]
        );
    }
    // --endpoints with --scheme https is the same.
    let endpoint = format!("127.0.0.1:{}", instance.port);
    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "--endpoints",
            &endpoint,
            "--scheme",
            "https",
            "--cacert",
            ca,
            "--grpc",
            INFO,
            "-n",
            "50",
        ],
    );
    common::assert_success(&out, "hale load --grpc --scheme https");
    assert_eq!(report["errors"], 0, "{report}");
    // A registry instance marked HTTPS (meta scheme=https) is called over TLS, its reflection
    // too.
    let registry = format!("file://{}", tmp.path().join("registry.json").display());
    let out = common::hale(tmp.path())
        .args(["register", "--once", "--registry", &registry])
        .args([
            "--name",
            "orders",
            "--id",
            "orders-tls",
            "--address",
            &endpoint,
        ])
        .args(["--ttl", "60s", "--meta", "scheme=https"])
        .output()
        .unwrap();
    common::assert_success(&out, "hale register");
    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "orders",
            "--registry",
            &registry,
            "--cacert",
            ca,
            "--grpc",
            INFO,
            "-n",
            "50",
        ],
    );
    common::assert_success(&out, "hale load orders --grpc (registry instance over TLS)");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["instances"][0]["id"], "orders-tls", "{report}");

    // Not trusted (another CA): the reflection's handshake fails before the run.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (stranger, _, _) = tls_files(&other);
    let stranger = stranger.to_str().unwrap();
    let (out, _) = load(
        tmp.path(),
        &dir,
        &[
            "--url", &url, "--grpc", INFO, "--cacert", stranger, "-n", "1",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gRPC reflection from 127.0.0.1"), "{err}");
    assert!(err.contains("TLS handshake failed"), "{err}");
    // Not trusted, with --proto: every call is a TLS failure.
    let (out, report) = load(
        tmp.path(),
        &dir,
        &[
            "--url",
            &url,
            "--grpc",
            INFO,
            "--proto",
            "api/orders/v1/orders.proto",
            "--cacert",
            stranger,
            "-n",
            "20",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(report["errors_by_kind"]["tls"], 20, "{report}");
}
