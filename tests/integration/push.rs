//! `hale build --push` against private docker-registry processes this file starts (so each
//! test reads its own registry's log and storage, and may kill it): a second repository gets
//! every blob by cross-repository mount, a TLS registry is trusted through `--registry-cacert`
//! or Docker's certs.d and refused otherwise, a push cut off by the registry going away resumes
//! with only the missing blobs, and `--base` reads a multi-platform base from a registry.
use crate::common;
use crate::common::engine::get_status;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use hale::image::layer::{self, Entry};

const NAME: &str = "pushsvc";

/// A committed `hale new` service, made once per test binary.
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::committed_service("push-fixture", NAME, |_| {}))
}

/// `hale build --engine native DIR ARGS` with no engine, an empty Docker config and no
/// certs.d of the user's.
fn build_cmd(dir: &Path, args: &[&str]) -> Command {
    let tmp = dir.parent().unwrap();
    let cfg = tmp.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut cmd = common::hale(tmp);
    cmd.args(["build", "--engine", "native"])
        .arg(dir)
        .args(args)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-engine.sock", tmp.display()),
        )
        .env("DOCKER_CONFIG", &cfg)
        .env("XDG_CONFIG_HOME", tmp.join("xdg"))
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn build(dir: &Path, args: &[&str]) -> Output {
    build_cmd(dir, args).output().unwrap()
}

fn json_build(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = build(dir, &all);
    common::assert_success(&out, "hale build");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// A docker-registry on a free loopback port, its storage and log in a temporary folder;
/// killed on drop.
struct PrivateRegistry {
    dir: tempfile::TempDir,
    addr: String,
    child: Option<Child>,
    tls: bool,
}

impl PrivateRegistry {
    fn start() -> PrivateRegistry {
        Self::start_with(None)
    }

    /// With `tls` (certificate and key PEM), it speaks only HTTPS.
    fn start_with(tls: Option<(&str, &str)>) -> PrivateRegistry {
        Self::start_configured(tls, None)
    }

    /// With `auth`, the `auth:` section of its config (written to `auth.pem` beside it: the
    /// bundle a token auth's `rootcertbundle` names).
    fn start_configured(tls: Option<(&str, &str)>, auth: Option<(&str, &str)>) -> PrivateRegistry {
        let dir = common::tempdir();
        let addr = format!("127.0.0.1:{}", common::free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = tls {
            std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
            std::fs::write(dir.path().join("key.pem"), key).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {0}/cert.pem\n    key: {0}/key.pem\n",
                dir.path().display()
            ));
        }
        if let Some((section, bundle)) = auth {
            std::fs::write(dir.path().join("auth.pem"), bundle).unwrap();
            config.push_str(&section.replace(
                "AUTH_PEM",
                &dir.path().join("auth.pem").display().to_string(),
            ));
        }
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut reg = PrivateRegistry {
            dir,
            addr,
            child: None,
            tls: tls.is_some(),
        };
        reg.spawn();
        reg
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = if self.tls {
                TcpStream::connect(&self.addr).is_ok()
            } else {
                // 401: up, and asking for a token.
                matches!(get_status(&self.addr, "/v2/"), Some(200 | 401))
            };
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: the registry goes away at once, as a crashed host would.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Access-log lines of `method` on paths starting with `prefix`.
    fn requests(&self, method: &str, prefix: &str) -> Vec<String> {
        let needle = format!("\"{method} {prefix}");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    fn storage(&self) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2")
    }

    /// Every complete blob the registry stores.
    fn stored_blobs(&self) -> usize {
        files_named(&self.storage().join("blobs"), "data").len()
    }

    /// The bytes of the largest upload in progress.
    fn largest_partial_upload(&self) -> u64 {
        files_named(&self.storage().join("repositories"), "data")
            .iter()
            .filter(|p| p.components().any(|c| c.as_os_str() == "_uploads"))
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0)
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn files_named(root: &Path, name: &str) -> Vec<PathBuf> {
    common::tree(root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == name))
        .map(|p| root.join(p))
        .collect()
}

#[test]
fn pushing_to_a_second_repository_mounts_every_blob_and_sends_no_layer_bytes() {
    need!(Go);
    need!(OciRegistry);
    let reg = PrivateRegistry::start();
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let first = json_build(&dir, &["--push", &format!("{}/acme/one:v1", reg.addr)]);
    let p1 = &first["push"];
    assert!(p1["uploaded_blobs"].as_u64().unwrap() >= 5, "{p1:#}");
    assert_eq!(p1["mounted_blobs"], 0);
    // Chunked upload: the registry saw PATCHes into the first repository.
    assert!(
        !reg.requests("PATCH", "/v2/acme/one/blobs/uploads/")
            .is_empty(),
        "no chunked upload in the registry's log"
    );

    let second = json_build(&dir, &["--push", &format!("{}/acme/two:v1", reg.addr)]);
    let p2 = &second["push"];
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(p2["uploaded_blobs"], 0, "{p2:#}");
    assert_eq!(p2["uploaded_bytes"], 0, "{p2:#}");
    assert_eq!(p2["mounted_blobs"], p1["uploaded_blobs"], "{p2:#}");
    assert_eq!(p2["mounted_bytes"], p1["uploaded_bytes"], "{p2:#}");
    // The registry's own view: mounts from `acme/one`, and not one PATCH or PUT of bytes.
    let mounts = reg.requests("POST", "/v2/acme/two/blobs/uploads/?mount=");
    assert_eq!(
        mounts.len() as u64,
        p1["uploaded_blobs"].as_u64().unwrap(),
        "{mounts:#?}"
    );
    assert!(
        mounts
            .iter()
            .all(|l| l.contains("from=acme/one") && l.contains("\" 201 ")),
        "{mounts:#?}"
    );
    assert!(reg.requests("PATCH", "/v2/acme/two/").is_empty());
    assert!(reg.requests("PUT", "/v2/acme/two/blobs/").is_empty());
    // And the second repository serves the image under its tag.
    let resp = reqwest::blocking::Client::new()
        .get(format!("http://{}/v2/acme/two/manifests/v1", reg.addr))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().unwrap();
    assert_eq!(layer::sha256(&body), first["digest"].as_str().unwrap());
}

/// A CA and a server certificate for 127.0.0.1 it signed, PEM: (ca, cert, key).
fn ca_and_server_cert() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hale test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn a_tls_registry_is_trusted_through_registry_cacert_or_certs_d_and_refused_otherwise() {
    need!(Go);
    need!(OciRegistry);
    let (ca, cert, key) = ca_and_server_cert();
    let reg = PrivateRegistry::start_with(Some((&cert, &key)));
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let target = format!("{}/acme/tls:v1", reg.addr);

    // Untrusted: one clear line, exit 1, before anything is built.
    let out = build(&dir, &["--output", "json", "--push", &target]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("signed by a CA hale does not trust") && err.contains("--registry-cacert"),
        "{err}"
    );
    assert!(!dir.join(".hale/build.json").exists(), "it built anyway");

    // A CA file that is no certificate: the user's mistake, exit 2.
    let bogus = tmp.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let out = build(
        &dir,
        &[
            "--push",
            &target,
            "--registry-cacert",
            bogus.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Trusted through the flag: pushed over HTTPS (the registry speaks nothing else).
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let doc = json_build(
        &dir,
        &[
            "--push",
            &target,
            "--registry-cacert",
            ca_file.to_str().unwrap(),
        ],
    );
    assert!(doc["push"]["uploaded_blobs"].as_u64().unwrap() >= 5);
    assert!(
        reg.log().contains("PUT /v2/acme/tls/manifests/v1"),
        "{}",
        reg.log()
    );

    // Trusted through Docker's convention: <config>/docker/certs.d/<host:port>/ca.crt.
    let certs_d = tmp.path().join("xdg/docker/certs.d").join(&reg.addr);
    std::fs::create_dir_all(&certs_d).unwrap();
    std::fs::write(certs_d.join("ca.crt"), &ca).unwrap();
    let doc = json_build(&dir, &["--push", &target]);
    assert_eq!(doc["push"]["uploaded_blobs"], 0, "all there already");
}

/// An OCI layout holding one image whose only layer is `size` random bytes (uncompressed tar).
fn big_base_layout(dir: &Path, size: usize) {
    let mut data = vec![0u8; size];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    let tar = layer::tar(
        vec![Entry::File {
            path: "opt/big.bin".into(),
            mode: 0o444,
            data,
        }],
        0,
    )
    .unwrap();
    let mut blobs = Vec::new();
    let layer_digest = layer::sha256(&tar);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": hale::image::platform::Platform::host().arch,
        "os": "linux",
        "config": {"Env": ["BIG=1"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": layer::sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": tar.len()}],
    }))
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": layer::sha256(&manifest), "size": manifest.len()}],
    });
    blobs.push(tar);
    blobs.push(config);
    blobs.push(manifest);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    for b in blobs {
        let d = layer::sha256(&b);
        std::fs::write(dir.join("blobs/sha256").join(&d[7..]), b).unwrap();
    }
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn a_push_cut_off_by_the_registry_going_away_resumes_with_only_the_missing_blobs() {
    need!(Go);
    need!(OciRegistry);
    const BIG: usize = 96 * 1024 * 1024;
    let mut reg = PrivateRegistry::start();
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let base = tmp.path().join("big-base");
    big_base_layout(&base, BIG);
    let base_arg = format!("oci-layout:{}", base.display());
    let target = format!("{}/acme/big:v1", reg.addr);
    let args = ["--output", "json", "--base", &base_arg, "--push", &target];

    let mut child = build_cmd(&dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blobs go smallest first: the config and the binary layer land, then the big layer
    // starts. Kill the registry once 16 MiB of it are in.
    let deadline = Instant::now() + Duration::from_secs(300);
    while reg.largest_partial_upload() < 16 * 1024 * 1024 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "hale finished before the registry was killed"
        );
        assert!(
            Instant::now() < deadline,
            "the big layer's upload never began"
        );
        thread::sleep(Duration::from_millis(2));
    }
    reg.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("pushing to {target}"))
            && err.contains("run the push again to send only the rest"),
        "{err}"
    );
    let complete = reg.stored_blobs();
    assert_eq!(
        complete, 2,
        "the config and the binary layer were in before the cut"
    );

    // The same storage, the same address: only what is missing goes up.
    reg.spawn();
    let out = build(&dir, &args);
    common::assert_success(&out, "the second push");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &doc["push"];
    assert_eq!(p["existing_blobs"], complete as u64, "{p:#}");
    // The big layer, then the SBOM referrer's two blobs.
    assert_eq!(p["uploaded_blobs"], 3, "{p:#}");
    let sent = p["uploaded_bytes"].as_u64().unwrap();
    let binary = doc["platforms"][0]["binary_size"].as_u64().unwrap();
    assert!(
        sent >= BIG as u64 && sent < BIG as u64 + binary / 2,
        "{p:#}"
    );
    // Five blobs, the image manifest, the SBOM referrer and the referrers tag's index (the
    // registry stores manifests as blobs; it has no Referrers API, so the index is there).
    assert_eq!(p["referrers_tags"].as_array().unwrap().len(), 1, "{p:#}");
    assert_eq!(reg.stored_blobs(), 8);
}

/// Upload a blob monolithically (POST, then PUT ?digest=) with plain HTTP; its digest.
fn put_blob(http: &reqwest::blocking::Client, reg: &str, repo: &str, data: &[u8]) -> String {
    let digest = layer::sha256(data);
    let resp = http
        .post(format!("http://{reg}/v2/{repo}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 202);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let loc = if loc.starts_with("http") {
        loc
    } else {
        format!("http://{reg}{loc}")
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let resp = http
        .put(format!("{loc}{sep}digest={digest}"))
        .body(data.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    digest
}

fn put_manifest(
    http: &reqwest::blocking::Client,
    reg: &str,
    repo: &str,
    reference: &str,
    doc: &serde_json::Value,
) -> (String, usize) {
    let data = serde_json::to_vec(doc).unwrap();
    let resp = http
        .put(format!("http://{reg}/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", doc["mediaType"].as_str().unwrap())
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().unwrap());
    (layer::sha256(&data), data.len())
}

/// Push a two-platform base (amd64, arm64) to `repo:1`: each a one-layer image with its own
/// marker file, `BASE_ARCH=<arch>` in its Env and user 1000:1000. The layer digests by arch.
fn push_two_platform_base(reg: &str, repo: &str) -> Vec<(String, String)> {
    let http = reqwest::blocking::Client::new();
    let mut entries = Vec::new();
    let mut layers = Vec::new();
    for arch in ["amd64", "arm64"] {
        let l = layer::build(
            vec![Entry::File {
                path: "etc/base-arch".into(),
                mode: 0o444,
                data: arch.as_bytes().to_vec(),
            }],
            0,
        )
        .unwrap();
        let layer_digest = put_blob(&http, reg, repo, &l.blob);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Env": [format!("BASE_ARCH={arch}"), "PORT=1"], "User": "1000:1000",
                       "WorkingDir": "/srv"},
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id]},
        }))
        .unwrap();
        let config_digest = put_blob(&http, reg, repo, &config);
        let (d, size) = put_manifest(
            &http,
            reg,
            repo,
            &format!("{arch}-only"),
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config_digest, "size": config.len()},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": layer_digest, "size": l.blob.len()}],
            }),
        );
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }));
        layers.push((arch.to_string(), layer_digest));
    }
    put_manifest(
        &http,
        reg,
        repo,
        "1",
        &serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }),
    );
    layers
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_base_from_the_registry_is_matched_per_platform_keeps_env_and_user_and_is_mounted() {
    need!(Go);
    need!(OciRegistry);
    let reg = PrivateRegistry::start();
    let base_layers = push_two_platform_base(&reg.addr, "bases/tiny");
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let base = format!("{}/bases/tiny:1", reg.addr);
    let doc = json_build(
        &dir,
        &[
            "--base",
            &base,
            "--platform",
            "linux/amd64,linux/arm64",
            "--push",
            &format!("{}/acme/onbase:v1", reg.addr),
        ],
    );
    assert_eq!(doc["base"], base);
    assert_eq!(doc["user"], "1000:1000", "the base's non-root user is kept");
    let layout = PathBuf::from(doc["oci_layout"].as_str().unwrap());
    let blob = |d: &str| read_json(&layout.join("blobs/sha256").join(&d[7..]));
    for p in doc["platforms"].as_array().unwrap() {
        let arch = p["platform"].as_str().unwrap().trim_start_matches("linux/");
        assert_eq!(p["layers"], 2, "the base's layer and the binary");
        let manifest = blob(p["digest"].as_str().unwrap());
        let wanted = &base_layers.iter().find(|(a, _)| a == arch).unwrap().1;
        assert_eq!(manifest["layers"][0]["digest"], wanted.as_str(), "{arch}");
        let config = blob(manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], arch);
        let env: Vec<&str> = config["config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&format!("BASE_ARCH={arch}").as_str()),
            "{env:?}"
        );
        assert!(
            env.contains(&"PORT=8080") && !env.contains(&"PORT=1"),
            "{env:?}"
        );
        assert_eq!(config["config"]["User"], "1000:1000");
        assert_eq!(config["config"]["WorkingDir"], "/srv");
    }
    // The base's layers live in the same registry: mounted from bases/tiny, not sent.
    let push = &doc["push"];
    assert_eq!(push["mounted_blobs"], 2, "{push:#}");
    let mounts = reg.requests("POST", "/v2/acme/onbase/blobs/uploads/?mount=");
    assert!(
        mounts
            .iter()
            .filter(|l| l.contains("from=bases/tiny") && l.contains("\" 201 "))
            .count()
            == 2,
        "{mounts:#?}"
    );

    // A platform the base lacks, and a base that is not there: exit 1, saying which.
    let out = build(&dir, &["--base", &base, "--platform", "linux/s390x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no image for linux/s390x"),
        "{}",
        stderr(&out)
    );
    let out = build(&dir, &["--base", &format!("{}/bases/none:1", reg.addr)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MANIFEST_UNKNOWN"),
        "{}",
        stderr(&out)
    );
    // A reference without a registry host is the user's mistake.
    let out = build(&dir, &["--base", "just-a-name:1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A proxy in front of a registry that refuses every PATCH (as some registries and gateways
/// refuse chunked uploads) and forwards everything else, one request per connection.
struct PatchRefusingProxy {
    addr: String,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn patch_refusing_proxy(upstream: &str) -> PatchRefusingProxy {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused = Arc::new(AtomicUsize::new(0));
    let (upstream, count) = (upstream.to_string(), refused.clone());
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (upstream, count) = (upstream.clone(), count.clone());
            thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read_exact(&mut byte).is_err() {
                        return;
                    }
                    // A TLS ClientHello: answer as a plain http server does.
                    if head.is_empty() && byte[0] == 0x16 {
                        let _ = conn.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let length: usize = text
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                if conn.read_exact(&mut body).is_err() {
                    return;
                }
                if text.starts_with("PATCH ") {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.write_all(
                        b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let head: String = text
                    .trim_end()
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .map(|l| format!("{l}\r\n"))
                    .collect();
                let Ok(mut up) = TcpStream::connect(&upstream) else {
                    return;
                };
                let _ = up.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
                let _ = up.write_all(&body);
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = conn.write_all(&answer);
            });
        }
    });
    PatchRefusingProxy { addr, refused }
}

#[test]
fn a_registry_that_refuses_chunks_gets_each_blob_in_one_put() {
    need!(Go);
    need!(OciRegistry);
    let reg = PrivateRegistry::start();
    let proxy = patch_refusing_proxy(&reg.addr);
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let doc = json_build(&dir, &["--push", &format!("{}/acme/mono:v1", proxy.addr)]);
    let uploaded = doc["push"]["uploaded_blobs"].as_u64().unwrap();
    assert!(uploaded >= 5, "{:#}", doc["push"]);
    // Each blob: its first PATCH refused, then the whole blob in one PUT.
    let refused = proxy.refused.load(std::sync::atomic::Ordering::SeqCst) as u64;
    assert_eq!(refused, uploaded);
    assert!(reg.requests("PATCH", "/v2/").is_empty());
    let puts: Vec<String> = reg
        .requests("PUT", "/v2/acme/mono/blobs/uploads/")
        .into_iter()
        .filter(|l| l.contains("digest=sha256:") && l.contains("\" 201 "))
        .collect();
    assert_eq!(puts.len() as u64, uploaded, "{puts:#?}");
    let resp = reqwest::blocking::Client::new()
        .get(format!("http://{}/v2/acme/mono/manifests/v1", reg.addr))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A token service for docker-registry's `token` auth, on a loopback port of its own (so on
/// another host than the registry, as far as credentials go). It grants what a scope asks for
/// to `user` with `password`, nothing to anonymous callers, and answers 401 to any other
/// password. It records every Authorization header it receives (None: none was sent).
struct TokenServer {
    addr: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
    /// The certificate its tokens are signed with (PEM), for the registry's rootcertbundle.
    cert_pem: String,
}

const TOKEN_ISSUER: &str = "hale-test-issuer";
const TOKEN_SERVICE: &str = "hale-test-registry";

fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// An ECDSA signature's DER (SEQUENCE of two INTEGERs) as JOSE wants it: r and s, 32 bytes each.
fn jose_signature(der: &[u8]) -> Vec<u8> {
    let mut i = 2 + usize::from(der[1] & 0x80 != 0) * usize::from(der[1] & 0x7f);
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "an INTEGER");
        let len = usize::from(der[i + 1]);
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

fn token_server(user: &'static str, password: &'static str) -> TokenServer {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["hale-token-signer".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let signer = rustls::crypto::ring::sign::any_ecdsa_type(&PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(key.serialize_der()),
    ))
    .unwrap();
    let signer = signer
        .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
        .unwrap();
    let cert_der = cert.der().to_vec();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    thread::spawn(move || {
        use base64::Engine as _;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let target = head.split(' ').nth(1).unwrap_or_default().to_string();
            let authorization = head.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    .map(|(_, v)| v.trim().to_string())
            });
            record.lock().unwrap().push(authorization.clone());
            let given = authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).to_string());
            let granted = match given.as_deref() {
                None => false,
                Some(g) if g == format!("{user}:{password}") => true,
                Some(_) => {
                    let _ = conn.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
            };
            let query = url::Url::parse(&format!("http://x{target}")).unwrap();
            let access: Vec<serde_json::Value> = query
                .query_pairs()
                .filter(|(k, _)| k == "scope")
                .filter_map(|(_, v)| {
                    let mut parts = v.splitn(3, ':');
                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    Some(serde_json::json!({
                        "type": kind, "name": name,
                        "actions": actions.split(',').collect::<Vec<_>>(),
                    }))
                })
                .filter(|_| granted)
                .collect();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = serde_json::json!({
                "typ": "JWT", "alg": "ES256",
                "x5c": [base64::engine::general_purpose::STANDARD.encode(&cert_der)],
            });
            let claims = serde_json::json!({
                "iss": TOKEN_ISSUER, "sub": if granted { user } else { "" },
                "aud": TOKEN_SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now - 10,
                "jti": format!("{now}-{}", record.lock().unwrap().len()), "access": access,
            });
            let input = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let signature = jose_signature(&signer.sign(input.as_bytes()).unwrap());
            let token = format!("{input}.{}", b64url(&signature));
            let body = serde_json::json!({"token": token, "access_token": token}).to_string();
            let _ = conn.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    TokenServer {
        addr,
        seen,
        cert_pem: cert.pem(),
    }
}

impl TokenServer {
    fn seen(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }

    /// A docker-registry that sends its clients here for tokens.
    fn registry(&self) -> PrivateRegistry {
        let section = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    \
             issuer: {TOKEN_ISSUER}\n    rootcertbundle: AUTH_PEM\n",
            self.addr
        );
        PrivateRegistry::start_configured(None, Some((&section, &self.cert_pem)))
    }
}

/// A Docker config with `auths` for each (host, user, password).
fn docker_config(dir: &Path, auths: &[(&str, &str, &str)]) -> PathBuf {
    use base64::Engine as _;
    let cfg = dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let entries: serde_json::Map<String, serde_json::Value> = auths
        .iter()
        .map(|(host, user, password)| {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            (host.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({ "auths": entries }).to_string(),
    )
    .unwrap();
    cfg
}

#[test]
fn a_token_realm_on_another_host_gets_only_its_own_credentials() {
    need!(Go);
    need!(OciRegistry);
    let tokens = token_server("hale", "realm-pass");
    let reg = tokens.registry();
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let target = format!("{}/acme/tokens:v1", reg.addr);
    let push = |cfg: &Path, extra: &[&str]| {
        let mut args = vec!["--push", target.as_str()];
        args.extend_from_slice(extra);
        build_cmd(&dir, &args)
            .env("DOCKER_CONFIG", cfg)
            .output()
            .unwrap()
    };

    // Credentials for the registry only: the realm is another host, so it gets none.
    let only_registry = docker_config(
        &tmp.path().join("a"),
        &[(&reg.addr, "hale", "registry-pass")],
    );
    let out = push(&only_registry, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("the Docker config has none for {}", tokens.addr)),
        "{err}"
    );
    let seen = tokens.seen();
    assert!(!seen.is_empty(), "hale never asked the token service");
    assert!(
        seen.iter().all(Option::is_none),
        "a foreign realm got credentials: {seen:?}"
    );

    // The realm's own entry with a wrong password: one line, exit 1, no password shown.
    let wrong = docker_config(
        &tmp.path().join("b"),
        &[(&tokens.addr, "hale", "wrong-pass")],
    );
    let out = push(&wrong, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "the token service at {} refused the credentials",
            tokens.addr
        )),
        "{err}"
    );
    assert!(
        !err.contains("blobs are in the registry"),
        "no resume hint: {err}"
    );
    assert!(!err.contains("wrong-pass"), "{err}");

    // The realm's own entry with the right password: the push goes through, and the
    // registry's password never reaches the token service.
    let before = tokens.seen().len();
    let right = docker_config(
        &tmp.path().join("c"),
        &[
            (&tokens.addr, "hale", "realm-pass"),
            (&reg.addr, "hale", "registry-pass"),
        ],
    );
    let out = push(&right, &["--output", "json"]);
    common::assert_success(&out, "push with the realm's credentials");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["push"]["uploaded_blobs"].as_u64().unwrap() >= 3,
        "{doc:#}"
    );
    let sent: Vec<Option<String>> = tokens.seen()[before..].to_vec();
    use base64::Engine as _;
    let realm_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("hale:realm-pass")
    );
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|a| a.as_deref() == Some(realm_basic.as_str())),
        "{sent:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("realm-pass"));
}

#[test]
fn sigterm_and_sigint_stop_a_push_with_130_and_write_no_build_record() {
    need!(Go);
    need!(OciRegistry);
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let reg = PrivateRegistry::start();
        let tmp = common::tempdir();
        let dir = common::clone(fixture(), tmp.path());
        let base = tmp.path().join("big-base");
        big_base_layout(&base, 96 * 1024 * 1024);
        let private_tmp = tmp.path().join("tmp");
        std::fs::create_dir_all(&private_tmp).unwrap();
        let base_arg = format!("oci-layout:{}", base.display());
        let target = format!("{}/acme/stopped:v1", reg.addr);
        let mut child = build_cmd(&dir, &["--base", &base_arg, "--push", &target])
            .env("TMPDIR", &private_tmp)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while reg.largest_partial_upload() < 4 * 1024 * 1024 {
            assert!(child.try_wait().unwrap().is_none(), "hale finished first");
            assert!(
                Instant::now() < deadline,
                "the big layer's upload never began"
            );
            thread::sleep(Duration::from_millis(2));
        }
        let sent = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(5),
                "still pushing 5 s after {signal}"
            );
            thread::sleep(Duration::from_millis(10));
        };
        let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
        assert_eq!(status.code(), Some(130), "{signal}: {err}");
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "{signal}: {:?}",
            sent.elapsed()
        );
        // It stopped sending: the partial upload does not grow any more.
        let at_exit = reg.largest_partial_upload();
        thread::sleep(Duration::from_millis(500));
        assert_eq!(
            reg.largest_partial_upload(),
            at_exit,
            "{signal}: bytes kept arriving"
        );
        assert!(
            !dir.join(".hale/build.json").exists(),
            "{signal}: a record of a push that did not finish"
        );
        assert!(
            common::tree(&private_tmp).is_empty(),
            "{signal}: {:?}",
            common::tree(&private_tmp)
        );
        let bin = dir.join(".hale/image/bin");
        assert!(
            !common::tree(&bin)
                .iter()
                .any(|p| p.to_string_lossy().contains(".go-tmp-")),
            "{signal}: {:?}",
            common::tree(&bin)
        );
    }
}
