//! The Docker Engine side of the image tests: the docker CLI against the test engine, cleanup
//! of what a test made, and the check that an image runs hardened and answers on loopback.
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

/// The docker CLI against the engine at `host`.
pub fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(args)
        .output()
        .expect("running docker")
}

/// [`docker`], which must succeed; its trimmed stdout.
pub fn docker_ok(host: &str, args: &[&str]) -> String {
    let out = docker(host, args);
    super::assert_success(&out, &format!("docker {}", args.join(" ")));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes a test's container and images when dropped.
pub struct Cleanup<'a> {
    pub host: &'a str,
    pub container: String,
    pub images: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = docker(self.host, &["rm", "-f", &self.container]);
        for i in &self.images {
            let _ = docker(self.host, &["rmi", "-f", i]);
        }
    }
}

/// One HTTP GET over a fresh connection; the status code.
pub fn get_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// The image `tag` has no shell, starts as `container` with `--read-only --cap-drop ALL
/// --network host`, answers /healthz on 127.0.0.1 and runs as uid 65532.
pub fn assert_runs_hardened(host: &str, tag: &str, container: &str) {
    let shell = docker(
        host,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/bin/sh",
            tag,
        ],
    );
    assert!(!shell.status.success(), "the image has a shell");
    let port = super::free_port();
    docker_ok(
        host,
        &[
            "run",
            "-d",
            "--name",
            container,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--network",
            "host",
            "-e",
            "HOST=127.0.0.1",
            "-e",
            &format!("PORT={port}"),
            "-e",
            "DRAIN_DELAY=0s",
            tag,
        ],
    );
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get_status(&addr, "/healthz") != Some(200) {
        assert!(
            Instant::now() < deadline,
            "no 200 on /healthz; logs:\n{}",
            String::from_utf8_lossy(&docker(host, &["logs", container]).stderr)
        );
        thread::sleep(Duration::from_millis(200));
    }
    let pid = docker_ok(host, &["inspect", "-f", "{{.State.Pid}}", container]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65532"; 4],
        "{uid}"
    );
}
