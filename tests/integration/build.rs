//! `hale build`: native images (no daemon) of a `hale new` service are reproducible across
//! checkouts, list every platform in their index, carry a valid SPDX SBOM, and — loaded into
//! the real Docker Engine — run read-only, without capabilities or a shell, as uid 65532 and
//! answer /healthz on 127.0.0.1. Bad input exits 2 and a stopped engine fails clearly.
use crate::common;
use crate::common::engine::{docker_ok, get_status, Cleanup};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const NAME: &str = "imgsvc";

/// A committed `hale new` service, made once per test binary.
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::committed_service("build-fixture", NAME, |_| {}))
}

/// `hale build` in `dir` with the engine at `docker_host`.
fn hale_build(dir: &Path, docker_host: &str, args: &[&str]) -> Output {
    common::hale(dir.parent().unwrap())
        .arg("build")
        .arg(dir)
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn json_build(dir: &Path, docker_host: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = hale_build(dir, docker_host, &all);
    common::assert_success(&out, "hale build");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// A socket path nobody listens on: an engine that is stopped.
fn dead_engine() -> (tempfile::TempDir, String) {
    let t = common::tempdir();
    let host = format!("unix://{}", t.path().join("docker.sock").display());
    (t, host)
}

/// The fixture cloned into two different folders, each built for amd64 and arm64.
struct TwoCheckouts {
    _tmp: tempfile::TempDir,
    a: PathBuf,
    docs: [serde_json::Value; 2],
}

fn two_checkouts() -> &'static TwoCheckouts {
    static T: OnceLock<TwoCheckouts> = OnceLock::new();
    T.get_or_init(|| {
        let tmp = common::tempdir();
        let (_dead, host) = dead_engine();
        let mut docs = Vec::new();
        let mut dirs = Vec::new();
        for sub in ["first/checkout", "second"] {
            let dir = tmp.path().join(sub).join(NAME);
            std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
            let out = Command::new("git")
                .args(["clone", "-q"])
                .arg(fixture())
                .arg(&dir)
                .output()
                .unwrap();
            common::assert_success(&out, "git clone");
            docs.push(json_build(
                &dir,
                &host,
                &[
                    "--engine",
                    "native",
                    "--platform",
                    "linux/amd64,linux/arm64",
                ],
            ));
            dirs.push(dir);
        }
        TwoCheckouts {
            a: dirs.remove(0),
            docs: [docs.remove(0), docs.remove(0)],
            _tmp: tmp,
        }
    })
}

fn platform_digests(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap().into(),
                p["digest"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn two_native_builds_of_one_commit_from_two_checkouts_give_the_same_digest() {
    need!(Go);
    let t = two_checkouts();
    let [a, b] = &t.docs;
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        a["digest"], b["digest"],
        "index digests differ:\n{a:#}\n{b:#}"
    );
    assert_eq!(platform_digests(a), platform_digests(b));
    // .hale/build.json records the same document for `hale deploy`.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.a.join(".hale/build.json")).unwrap()).unwrap();
    assert_eq!(record["digest"], a["digest"]);
    assert_eq!(record["reference"], format!("{NAME}:dev"));
    assert_eq!(record["user"], "65532:65532");
    assert_eq!(record["engine"], "native");
}

#[test]
fn a_warm_native_build_reuses_its_compressed_layer_and_checks_it() {
    need!(Go);
    let tmp = common::tempdir();
    let (_dead, host) = dead_engine();
    let dir = common::clone(fixture(), tmp.path());
    let build = || {
        let out = hale_build(&dir, &host, &["--engine", "native"]);
        common::assert_success(&out, "hale build");
        let record = read_json(&dir.join(".hale/build.json"));
        (record["digest"].as_str().unwrap().to_string(), stderr(&out))
    };
    let (cold, said) = build();
    assert!(!said.contains("reused"), "{said}");
    let (warm, said) = build();
    assert_eq!(warm, cold, "a warm build gives the same image");
    assert!(
        said.contains(&format!(
            "reused the compressed layer of /app/{NAME} (linux/"
        )),
        "{said}"
    );
    // A damaged cache entry is not used: the layer is compressed again, to the same bytes.
    let layers = dir.join(".hale/image/bin/layers");
    let cached: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "one binary layer cached: {cached:?}");
    std::fs::write(&cached[0], b"not gzip").unwrap();
    let (again, said) = build();
    assert_eq!(again, cold);
    assert!(!said.contains("reused"), "{said}");
    assert_ne!(std::fs::read(&cached[0]).unwrap(), b"not gzip");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    read_json(&layout.join("blobs").join(digest.replacen(':', "/", 1)))
}

#[test]
fn multi_platform_build_writes_an_index_listing_amd64_and_arm64() {
    need!(Go);
    let t = two_checkouts();
    let layout = t.a.join(".hale/image/oci");
    let top = read_json(&layout.join("index.json"));
    let entry = &top["manifests"][0];
    assert_eq!(entry["digest"], t.docs[0]["digest"]);
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        format!("{NAME}:dev")
    );
    let index = blob(&layout, entry["digest"].as_str().unwrap());
    let mut listed = Vec::new();
    for m in index["manifests"].as_array().unwrap() {
        let arch = m["platform"]["architecture"].as_str().unwrap().to_string();
        assert_eq!(m["platform"]["os"], "linux");
        let manifest = blob(&layout, m["digest"].as_str().unwrap());
        let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(
            config["architecture"],
            arch.as_str(),
            "config matches its index entry"
        );
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"][0], format!("/app/{NAME}"));
        assert!(config["config"]["ExposedPorts"]["8080/tcp"].is_object());
        assert!(config["config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into()));
        let labels = &config["config"]["Labels"];
        assert_eq!(labels["org.opencontainers.image.version"], "dev");
        assert_eq!(
            labels["org.opencontainers.image.revision"]
                .as_str()
                .unwrap()
                .len(),
            40,
            "the commit"
        );
        assert_eq!(
            manifest["layers"].as_array().unwrap().len(),
            2,
            "base + binary"
        );
        listed.push(arch);
    }
    listed.sort();
    assert_eq!(listed, ["amd64", "arm64"]);
}

#[test]
fn sbom_is_valid_spdx_2_3_listing_the_modules_with_purls() {
    need!(Go);
    let validator = need!(Pyspdxtools);
    let t = two_checkouts();
    for p in t.docs[0]["platforms"].as_array().unwrap() {
        let path = PathBuf::from(p["sbom"].as_str().unwrap());
        let out = Command::new(&validator)
            .arg("-i")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pyspdxtools refused {}:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        let doc = read_json(&path);
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        let purls: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
            .collect();
        assert!(
            purls
                .iter()
                .any(|p| p.starts_with("pkg:golang/github.com/prometheus/client_golang@v")),
            "{purls:?}"
        );
        assert!(purls.iter().any(|p| p.starts_with("pkg:golang/stdlib@")));
    }
}

#[test]
fn native_image_loaded_into_the_engine_runs_read_only_as_65532_without_a_shell() {
    need!(Go);
    let host = need!(Docker);
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(fixture())
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "git clone");
    let tag = format!("{NAME}:load-{}", std::process::id());
    let container = format!("hale-test-build-{}", std::process::id());
    let _cleanup = Cleanup {
        host: &host,
        container: container.clone(),
        images: vec![tag.clone()],
    };
    // A relative PATH, as a user types it (`go build -o` runs in the service folder).
    let out = common::hale(tmp.path())
        .current_dir(tmp.path())
        .args([
            "build", NAME, "--output", "json", "--engine", "native", "--load", "--tag",
        ])
        .arg(&tag)
        .env("DOCKER_HOST", &host)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    common::assert_success(&out, "hale build NAME (relative)");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["loaded"], true);
    assert_eq!(
        docker_ok(&host, &["image", "inspect", "-f", "{{.Config.User}}", &tag]),
        "65532:65532"
    );
    common::engine::assert_runs_hardened(&host, &tag, &container);
}

#[test]
fn a_base_read_from_an_oci_layout_keeps_its_layers_under_the_binary() {
    need!(Go);
    let t = two_checkouts();
    let (_dead, host) = dead_engine();
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(fixture())
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "git clone");
    let base = t.a.join(".hale/image/oci");
    let doc = json_build(
        &dir,
        &host,
        &[
            "--engine",
            "native",
            "--base",
            &format!("oci-layout:{}", base.display()),
        ],
    );
    assert_eq!(
        doc["layers"], 3,
        "the base's two layers and the binary: {doc:#}"
    );
    assert!(doc["base"].as_str().unwrap().starts_with("oci-layout:"));
}

#[test]
fn auto_engine_with_no_engine_answering_says_so_and_builds_natively() {
    need!(Go);
    let (_dead, host) = dead_engine();
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(fixture())
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&out, "git clone");
    let out = hale_build(&dir, &host, &[]);
    common::assert_success(&out, "hale build");
    let err = stderr(&out);
    assert!(
        err.contains("no Docker Engine answers at") && err.contains("building natively"),
        "{err}"
    );
    // Loading needs the engine: a clear failure, exit 1.
    let out = hale_build(&dir, &host, &["--engine", "native", "--load"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no Docker Engine answers at unix://"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn invalid_platforms_tags_and_references_exit_2_and_write_nothing() {
    let tmp = common::tempdir();
    let dir = tmp.path().join(NAME);
    common::scaffold(tmp.path(), NAME, &dir);
    let before = common::tree(&dir);
    let (_dead, host) = dead_engine();
    for args in [
        &["--platform", "linux/sparc"][..],
        &["--platform", "windows/amd64"],
        &["--tag", "Bad:Tag"],
        &["--push", "127.0.0.1:5000/UPPER/x"],
        &["--push", "no-registry-host"],
        &["--image-version", "-nope"],
    ] {
        let out = hale_build(&dir, &host, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "one line: {}",
            stderr(&out)
        );
        assert_eq!(common::tree(&dir), before, "{args:?} wrote something");
    }
}

/// Lines of the registry's access log that upload a blob into `repo`.
fn upload_requests(state: &str, repo: &str) -> usize {
    let log = std::fs::read_to_string(Path::new(state).join("registry.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains(&format!("POST /v2/{repo}/blobs/uploads/")))
        .count()
}

#[test]
fn push_then_pull_by_digest_round_trips_and_a_second_push_uploads_no_blob() {
    need!(Go);
    let registry = need!(OciRegistry);
    let host = need!(Docker);
    let state = std::env::var("HALE_TEST_STATE").unwrap_or_default();
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let repo = format!("hale-test/push-{}", std::process::id());
    let target = format!("{registry}/{repo}:v1");
    let first = json_build(&dir, &host, &["--engine", "native", "--push", &target]);
    let push = &first["push"];
    assert!(push["uploaded_blobs"].as_u64().unwrap() >= 3, "{push:#}");
    assert_eq!(push["sbom_referrers"].as_array().unwrap().len(), 1);
    let digest = first["digest"].as_str().unwrap();
    assert_eq!(first["pushed"], format!("{registry}/{repo}@{digest}"));
    let uploads_after_first = upload_requests(&state, &repo);
    assert!(
        uploads_after_first >= 3,
        "the registry's log shows the uploads"
    );
    // The test registry has no Referrers API: the SBOM is found through the fallback tag.
    let sbom = push["sbom_referrers"][0].as_str().unwrap();
    assert_eq!(
        push["referrers_tags"].as_array().unwrap().len(),
        1,
        "{push:#}"
    );
    let oras = need!(Oras);
    let found = Command::new(&oras)
        .args([
            "discover",
            "--plain-http",
            "--format",
            "json",
            &format!("{registry}/{repo}@{digest}"),
        ])
        .output()
        .unwrap();
    assert!(found.status.success(), "oras discover: {}", stderr(&found));
    let listed = String::from_utf8_lossy(&found.stdout);
    assert!(
        listed.contains(sbom) && listed.contains("application/spdx+json"),
        "oras discover lists the SBOM {sbom}: {listed}"
    );

    let second = json_build(&dir, &host, &["--engine", "native", "--push", &target]);
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(second["push"]["uploaded_blobs"], 0, "{:#}", second["push"]);
    assert_eq!(second["push"]["uploaded_bytes"], 0);
    assert_eq!(
        upload_requests(&state, &repo),
        uploads_after_first,
        "the registry saw no new upload"
    );

    // The registry serves the manifest by digest, and the engine pulls and runs it.
    let by_digest = format!("{registry}/{repo}@{digest}");
    let _cleanup = Cleanup {
        host: &host,
        container: format!("hale-test-pull-{}", std::process::id()),
        images: vec![by_digest.clone()],
    };
    docker_ok(&host, &["pull", "-q", &by_digest]);
    assert_eq!(
        docker_ok(
            &host,
            &["image", "inspect", "-f", "{{.Config.User}}", &by_digest]
        ),
        "65532:65532"
    );
    let repo_digests = docker_ok(
        &host,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .RepoDigests}}",
            &by_digest,
        ],
    );
    assert!(repo_digests.contains(digest), "{repo_digests}");
}

/// A second docker-registry with htpasswd auth on a free loopback port; stopped on drop.
struct AuthRegistry {
    child: std::process::Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn auth_registry(python: &str, user: &str, password: &str) -> AuthRegistry {
    let dir = common::tempdir();
    let out = Command::new(python)
        .args([
            "-c",
            "import bcrypt,sys; print(sys.argv[1] + ':' + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt()).decode())",
            user,
            password,
        ])
        .output()
        .unwrap();
    common::assert_success(&out, "bcrypt");
    std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let config = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: {addr}\n\
         auth:\n  htpasswd:\n    realm: hale-test\n    path: {root}/../htpasswd\n",
        root = dir.path().join("data").display()
    );
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
        .spawn()
        .expect("starting docker-registry");
    let reg = AuthRegistry {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    // 401 on /v2/ means it is up and asking for credentials.
    while get_status(&reg.addr, "/v2/") != Some(401) {
        assert!(
            Instant::now() < deadline,
            "the htpasswd registry did not start"
        );
        thread::sleep(Duration::from_millis(100));
    }
    reg
}

fn docker_config_with(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    let cfg = dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    cfg
}

#[test]
fn an_htpasswd_registry_takes_the_right_credentials_and_refuses_wrong_ones_clearly() {
    need!(Go);
    let python = need!(ImagePython);
    let reg = auth_registry(&python, "hale", "right-pass");
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let (_dead, engine) = dead_engine();
    let target = format!("{}/acme/{NAME}:v1", reg.addr);

    let wrong = docker_config_with(&tmp.path().join("w"), &reg.addr, "hale", "wrong-pass");
    let out = common::hale(tmp.path())
        .args(["build", "--engine", "native", "--push", &target])
        .arg(&dir)
        .env("DOCKER_HOST", &engine)
        .env("DOCKER_CONFIG", &wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        !err.contains("run the push again"),
        "a retry meets the same refusal: no resume hint: {err}"
    );
    assert!(!err.contains("wrong-pass"), "the password leaked: {err}");

    let right = docker_config_with(&tmp.path().join("r"), &reg.addr, "hale", "right-pass");
    let out = common::hale(tmp.path())
        .args([
            "build", "--engine", "native", "--output", "json", "--push", &target,
        ])
        .arg(&dir)
        .env("DOCKER_HOST", &engine)
        .env("DOCKER_CONFIG", &right)
        .output()
        .unwrap();
    common::assert_success(&out, "push with the right credentials");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["push"]["uploaded_blobs"].as_u64().unwrap() >= 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("right-pass") && !stderr(&out).contains("right-pass"));

    // And a registry nobody listens on: a clear failure.
    let nowhere = format!("127.0.0.1:{}/acme/{NAME}:v1", common::free_port());
    let out = common::hale(tmp.path())
        .args(["build", "--engine", "native", "--push", &nowhere])
        .arg(&dir)
        .env("DOCKER_HOST", &engine)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is unreachable"), "{}", stderr(&out));
}

/// Processes whose environment holds `mark` (the build and every child it started).
pub(crate) fn processes_marked(mark: &str) -> Vec<String> {
    let needle = format!("HALE_SIGNAL_MARK={mark}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("{name} {}", comm.trim()));
        }
    }
    found
}

/// Files and folders under `dir` whose name starts with `prefix`.
fn named_like(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Start a cold native build (an empty GOCACHE, so Go compiles the standard library), wait
/// until Go's compilers run, send `signal`, and check the build stopped cleanly.
fn interrupted_go_build_leaves_nothing(signal: nix::sys::signal::Signal) {
    let tmp = common::tempdir();
    let dir = common::clone(fixture(), tmp.path());
    let (_dead, engine) = dead_engine();
    let private_tmp = tmp.path().join("tmp");
    let gocache = tmp.path().join("gocache");
    std::fs::create_dir_all(&private_tmp).unwrap();
    let folders_before = common::tree(&dir);
    let mark = format!("{}-{signal}", std::process::id());
    let mut child = common::hale(tmp.path())
        .args(["build", "--engine", "native"])
        .arg(&dir)
        .env("DOCKER_HOST", &engine)
        .env("TMPDIR", &private_tmp)
        .env("GOCACHE", &gocache)
        .env("HALE_SIGNAL_MARK", &mark)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    // Go's work folder appears once it plans the build; a compiler runs soon after.
    let bin = dir.join(".hale/image/bin");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !processes_marked(&mark)
        .iter()
        .any(|p| p.ends_with(" compile"))
    {
        assert!(child.try_wait().unwrap().is_none(), "the build ended first");
        assert!(Instant::now() < deadline, "go never started compiling");
        thread::sleep(Duration::from_millis(20));
    }
    let used = common::tree(&bin).len() + common::tree(&private_tmp).len();
    assert!(used > 0, "go's work folder is nowhere to be seen");
    let sent = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "hale build still runs 5 s after {signal}"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let err = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?} to stop");
    // Go's compilers and linker are gone with it ...
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_marked(&mark).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_marked(&mark)
        );
        thread::sleep(Duration::from_millis(20));
    }
    // ... and so are their work folders, in TMPDIR and beside the binary.
    assert!(
        common::tree(&private_tmp).is_empty(),
        "left in TMPDIR: {:?}",
        common::tree(&private_tmp)
    );
    assert!(
        named_like(&bin, ".go-tmp-").is_empty(),
        "{:?}",
        common::tree(&bin)
    );
    assert!(
        named_like(&bin, NAME).is_empty(),
        "a half-built binary was left"
    );
    // Nothing of the image was written, and no folder the build made is left, empty or not.
    assert!(!dir.join(".hale/build.json").exists());
    assert!(!dir.join(".hale/image/oci").exists());
    assert_eq!(common::tree(&dir), folders_before);
}

#[test]
fn sigint_stops_a_native_build_with_130_and_leaves_no_process_or_temp_folder() {
    need!(Go);
    interrupted_go_build_leaves_nothing(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_stops_a_native_build_with_130_and_leaves_no_process_or_temp_folder() {
    need!(Go);
    interrupted_go_build_leaves_nothing(nix::sys::signal::Signal::SIGTERM);
}
