//! The test environment answers: every real service the suite relies on is up and healthy.
//! Under HALE_TEST_REQUIRE_ALL=1 (the README's test command) a missing one fails here by name.
use crate::common;

use std::process::Command;

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let resp = client
        .get(format!("http://{addr}{path}"))
        .send()
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"));
    let code = resp.status().as_u16();
    (code, resp.text().unwrap_or_default())
}

#[test]
fn docker_engine_answers_ping() {
    let host = need!(Docker);
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", &host)
        .output()
        .expect("docker client");
    common::assert_success(&out, "docker version");
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

#[test]
fn buildkit_builds_and_the_go_builder_image_are_there() {
    let host = need!(Docker);
    let config = need!(DockerConfig);
    let builder = need!(GoBuilderImage);
    let run = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &host)
            .env("DOCKER_CONFIG", &config)
            .output()
            .expect("docker client");
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["buildx", "version"]).contains("buildx"));
    let go = run(&[
        "run",
        "--rm",
        "--network",
        "none",
        &builder,
        "go",
        "env",
        "GOVERSION",
        "GOPROXY",
    ]);
    assert!(go.starts_with("go1.") && go.contains("off"), "{go}");
}

#[test]
fn etcd_reports_healthy() {
    let addr = need!(Etcd);
    let (code, body) = http_get(&addr, "/health");
    assert_eq!(code, 200);
    assert!(body.contains("\"health\":\"true\""), "{body}");
}

#[test]
fn consul_has_a_leader() {
    let addr = need!(Consul);
    let (code, body) = http_get(&addr, "/v1/status/leader");
    assert_eq!(code, 200);
    assert!(
        body.trim().trim_matches('"').contains(':'),
        "no leader: {body}"
    );
}

#[test]
fn container_registry_serves_v2() {
    let addr = need!(OciRegistry);
    let (code, _) = http_get(&addr, "/v2/");
    assert_eq!(code, 200);
}

#[test]
fn prometheus_is_ready_and_promtool_runs() {
    let addr = need!(Prometheus);
    let (code, _) = http_get(&addr, "/-/ready");
    assert_eq!(code, 200);
    let promtool = need!(Promtool);
    let dir = common::tempdir();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: smoke\n  rules:\n  - record: job:up:sum\n    expr: sum(up) by (job)\n",
    )
    .unwrap();
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    common::assert_success(&out, "promtool check rules");
}

#[test]
fn go_toolchain_is_present() {
    let go = need!(Go);
    let out = Command::new(go).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("go version go1."));
}
