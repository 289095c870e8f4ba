//! Property tests over the parsers of what users and cloned repositories hand hale: hale.toml,
//! hale.lock, `.hale/fleet.json`, the render record (`deploy/.hale-render.json`), `--fault`
//! and `--assert`. Arbitrary bytes, arbitrary text and structured mutations of valid inputs
//! never panic, and every refusal classifies as bad input (exit 2) with one line that is no
//! debug dump: exactly what `hale` would print.
//!
//! Each property runs `HALE_FUZZ_CASES` cases (default 64, a few seconds for all of them);
//! `scripts/fuzz.sh SECONDS` runs them with many more cases, fresh seeds, until the time is up.
use std::path::Path;

use hale::exit::{classify, Exit};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

fn config() -> Config {
    let cases = std::env::var("HALE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        // A failure prints its minimal input; nothing is written into the source tree.
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Words that look like a Rust `Debug` rendering rather than a sentence.
fn looks_like_a_debug_dump(line: &str) -> bool {
    let bytes = line.as_bytes();
    let struct_like = line.match_indices(" { ").any(|(at, _)| {
        at > 0 && bytes[at - 1].is_ascii_alphanumeric() && {
            let rest = &line[at + 3..];
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            !field.is_empty() && rest[field.len()..].starts_with(": ")
        }
    });
    struct_like || line.contains("Some(") || line.contains("Os { code")
}

/// A refusal as the user meets it: exit 2 and one line that says something.
fn assert_refusal(err: anyhow::Error, input: &dyn std::fmt::Debug) -> Result<(), TestCaseError> {
    let line = hale::output::error_line(&err);
    prop_assert_eq!(
        classify(&err),
        Exit::Usage,
        "not exit 2: {} (input {:?})",
        line,
        input
    );
    prop_assert!(!line.contains('\n'), "two lines: {line:?}");
    prop_assert!(!line.trim().is_empty(), "an empty message for {input:?}");
    prop_assert!(!looks_like_a_debug_dump(&line), "a debug dump: {line}");
    Ok(())
}

/// Text that is mostly like `valid`: bytes inserted, deleted, duplicated or replaced, lines
/// swapped, values switched to odd ones (zero, negative, huge, other types).
fn mutated(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let odd = prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("\"0s\"".to_string()),
        Just("99999999999999999999".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"../../etc/passwd\"".to_string()),
        Just("\"/etc/passwd\"".to_string()),
        Just("\"\u{1b}[31mred\"".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("\"\"".to_string()),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        (any::<usize>(), odd).prop_map(|(line, v)| Edit::Value(line, v)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ];
    proptest::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut text = valid.as_bytes().to_vec();
        for e in edits {
            e.apply(&mut text);
        }
        text
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, u8),
    Delete(usize, usize),
    SwapLines(usize, usize),
    Value(usize, String),
    DuplicateLine(usize),
}

impl Edit {
    fn apply(self, text: &mut Vec<u8>) {
        let lines =
            |t: &[u8]| -> Vec<Vec<u8>> { t.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect() };
        match self {
            Edit::Insert(at, b) => {
                let at = at % (text.len() + 1);
                text.insert(at, b);
            }
            Edit::Delete(at, n) if !text.is_empty() => {
                let at = at % text.len();
                let end = (at + n).min(text.len());
                text.drain(at..end);
            }
            Edit::Delete(..) => {}
            Edit::SwapLines(a, b) => {
                let mut l = lines(text);
                let (a, b) = (a % l.len(), b % l.len());
                l.swap(a, b);
                *text = l.join(&b'\n');
            }
            Edit::Value(line, v) => {
                let mut l = lines(text);
                let i = line % l.len();
                // `key = value` (TOML) or `"key": value,` (JSON): the value goes.
                if let Some(at) = l[i].iter().position(|b| *b == b'=' || *b == b':') {
                    let comma = l[i].ends_with(b",");
                    l[i].truncate(at + 1);
                    l[i].extend_from_slice(b" ");
                    l[i].extend_from_slice(v.as_bytes());
                    if comma {
                        l[i].push(b',');
                    }
                }
                *text = l.join(&b'\n');
            }
            Edit::DuplicateLine(line) => {
                let mut l = lines(text);
                let i = line % l.len();
                let copy = l[i].clone();
                l.insert(i, copy);
                *text = l.join(&b'\n');
            }
        }
    }
}

/// Arbitrary bytes, arbitrary text, or a mutation of `valid`.
fn input(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => any::<String>().prop_map(String::into_bytes),
        4 => mutated(valid),
    ]
}

const HALE_TOML: &str = r#"name = "orders"
port = 8080
registry = "consul://127.0.0.1:8500"

[image]
repository = "registry.example/acme/orders"
tag = "v1"

[deploy]
namespace = "shop"
replicas = 2
max_replicas = 6
cpu = "100m"
memory = "128Mi"
slo = ["availability=99.9"]

[deploy.canary]
step_weight = 10
interval = "1m"
window = "1m"
p99 = "500ms"
"#;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hale_toml_never_panics_and_refuses_with_exit_2(bytes in input(HALE_TOML)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hale.toml"), &bytes).unwrap();
        let resolved = hale::settings::resolve(
            dir.path(),
            hale::settings::Overrides::default(),
            &|_| None,
        );
        if let Err(e) = resolved {
            assert_refusal(e.into(), &String::from_utf8_lossy(&bytes))?;
        }
    }
}

/// A hale.lock as `hale new` writes it: take the real one of a generated service.
fn valid_lock() -> &'static str {
    static LOCK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| {
        let tmp = crate::common::tempdir();
        let dir = tmp.path().join("orders");
        crate::common::scaffold(tmp.path(), "orders", &dir);
        std::fs::read_to_string(dir.join("hale.lock")).unwrap()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hale_lock_never_panics_and_refuses_with_exit_2(
        bytes in input(valid_lock()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hale.lock"), &bytes).unwrap();
        if let Err(e) = hale::scaffold::lock::Lock::read(dir.path()) {
            assert_refusal(e.into(), &String::from_utf8_lossy(&bytes))?;
        }
    }
}

const FLEET_JSON: &str = r#"{
  "version": 1,
  "service": "orders",
  "registry": "file:///tmp/registry.json",
  "binary": "BIN",
  "runtime": "process",
  "instances": [
    {
      "id": "orders-1",
      "pid": 4242,
      "address": "127.0.0.1:18081",
      "port": 18081,
      "admin_port": 19081,
      "log": "LOG",
      "started_unix_ms": 1765000000000
    }
  ]
}
"#;

/// fleet.json names absolute paths inside the service's `.hale/`: the valid text for `dir`.
fn fleet_json_in(dir: &Path, text: &[u8]) -> Vec<u8> {
    let own = dir.join(".hale");
    String::from_utf8_lossy(text)
        .replace("BIN", &own.join("bin/orders").display().to_string())
        .replace("LOG", &own.join("logs/orders-1.log").display().to_string())
        .into_bytes()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fleet_state_never_panics_and_refuses_with_exit_2(bytes in input(FLEET_JSON)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".hale")).unwrap();
        let bytes = fleet_json_in(dir.path(), &bytes);
        std::fs::write(dir.path().join(".hale/fleet.json"), &bytes).unwrap();
        if let Err(e) = hale::fleet::FleetState::load(dir.path()) {
            assert_refusal(e.into(), &String::from_utf8_lossy(&bytes))?;
        }
    }
}

/// Render-record entries: inside, outside, absolute, through `..`, odd bytes.
fn record_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("base/service.yaml".to_string()),
        Just("../victim.txt".to_string()),
        Just("../../victim.txt".to_string()),
        Just("base/../../victim.txt".to_string()),
        Just("/etc/passwd".to_string()),
        Just("".to_string()),
        Just(".".to_string()),
        Just("base/./../base/service.yaml".to_string()),
        Just("base\0x".to_string()),
        "[a-z./]{1,20}",
        any::<String>(),
    ]
}

fn record() -> impl Strategy<Value = Vec<u8>> {
    let structured = proptest::collection::btree_map(
        record_entry(),
        prop_oneof![
            Just(format!("{:x}", sha2::Sha256::digest(b"kind: Service\n"))),
            "[0-9a-f]{64}",
            any::<String>(),
        ],
        0..5,
    )
    .prop_map(|files| {
        serde_json::json!({ "version": 1, "files": files })
            .to_string()
            .into_bytes()
    });
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => any::<String>().prop_map(String::into_bytes),
        4 => structured,
    ]
}

use sha2::Digest as _;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn render_record_never_panics_never_escapes_and_refuses_with_exit_2(
        bytes in record(),
        force in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim.txt");
        std::fs::write(&victim, "precious\n").unwrap();
        let out = tmp.path().join("project/deploy");
        std::fs::create_dir_all(out.join("base")).unwrap();
        std::fs::write(out.join("base/service.yaml"), "kind: Service\n").unwrap();
        std::fs::write(out.join(".hale-render.json"), &bytes).unwrap();
        let set = hale::manifests::Rendered {
            files: vec![hale::manifests::RenderedFile {
                path: "base/deployment.yaml".into(),
                kind: Some("Deployment".into()),
                contents: "kind: Deployment\n".into(),
            }],
        };
        let written = hale::manifests::write::write(&set, &out, force);
        prop_assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        if let Err(e) = written {
            let err = anyhow::Error::new(hale::deploy::DeployError::from(e));
            assert_refusal(err, &String::from_utf8_lossy(&bytes))?;
        }
    }
}

/// `--fault` text: the documented forms, their parts recombined, and noise.
fn fault() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("at=10s".to_string()),
        Just("at=0s".to_string()),
        Just("at=-1s".to_string()),
        Just("at=".to_string()),
        Just("kill=orders-2".to_string()),
        Just("restore=orders-2".to_string()),
        Just("error-rate=orders-1:0.5".to_string()),
        Just("error-rate=orders-1:1.5".to_string()),
        Just("error-rate=orders-1:NaN".to_string()),
        Just("latency=orders-1:200ms".to_string()),
        Just("latency=orders-1:".to_string()),
        Just("latency=:1s".to_string()),
        Just("kill=../x".to_string()),
        Just("kill=\u{1b}[2J".to_string()),
        "[a-z-]{1,10}=[ -~]{0,12}",
        "[ -~]{0,16}",
    ];
    prop_oneof![
        proptest::collection::vec(part, 0..5).prop_map(|p| p.join(",")),
        any::<String>(),
    ]
}

/// `--assert` text: metric, operator and value recombined, and noise.
fn assertion() -> impl Strategy<Value = String> {
    let metric = prop_oneof![
        Just("p50"),
        Just("p99"),
        Just("p999"),
        Just("max"),
        Just("errors"),
        Just("rps"),
        Just("recover"),
        Just("open"),
        Just("dead"),
        Just("share-deviation"),
        Just("jain"),
        Just("p98"),
        Just(""),
    ];
    let op = prop_oneof![
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">="),
        Just("="),
        Just("<<")
    ];
    let value = prop_oneof![
        Just("250ms".to_string()),
        Just("0".to_string()),
        Just("0s".to_string()),
        Just("1%".to_string()),
        Just("150%".to_string()),
        Just("-1".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("1e400".to_string()),
        Just("1.5s".to_string()),
        Just("".to_string()),
        "[ -~]{0,10}",
    ];
    prop_oneof![
        4 => (metric, op, value).prop_map(|(m, o, v)| format!("{m}{o}{v}")),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fault_specs_never_panic_and_refuse_with_exit_2(text in fault()) {
        if let Err(e) = text.parse::<hale::load::faults::FaultStep>() {
            assert_refusal(e.into(), &text)?;
        }
    }

    #[test]
    fn assertions_never_panic_and_refuse_with_exit_2(text in assertion()) {
        if let Err(e) = text.parse::<hale::load::assertions::Assertion>() {
            assert_refusal(e.into(), &text)?;
        }
    }
}

#[test]
fn the_debug_dump_detector_knows_one() {
    assert!(looks_like_a_debug_dump(
        "Status { status: Some(Failure), code: 404 }"
    ));
    assert!(looks_like_a_debug_dump(
        "NotValidForNameContext { expected: x }"
    ));
    assert!(!looks_like_a_debug_dump(
        "hale.toml: 3:1: invalid type: map { } (fix hale.toml and run again)"
    ));
}
