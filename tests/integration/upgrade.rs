//! `hale upgrade`: a service made by an older template set, with files the user edited, is
//! brought up to the current templates; the user's changes survive (kept, or three-way merged),
//! `--dry-run` writes nothing, and the upgraded service still builds and passes its tests.
//!
//! The older template set is simulated the way it would look on disk: `hale new` with today's
//! templates, then some files, their `.hale-base/` copies and their `hale.lock` entries are
//! rewritten to what an older template would have rendered (and one file the older set had,
//! which today's has dropped, is added; one it lacked is removed).
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn read_lock(service: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(service.join("hale.lock")).unwrap()).unwrap()
}

fn write_lock(service: &Path, lock: &toml::Table) {
    std::fs::write(service.join("hale.lock"), toml::to_string(lock).unwrap()).unwrap();
}

fn entries(lock: &mut toml::Table) -> &mut Vec<toml::Value> {
    lock.get_mut("file").unwrap().as_array_mut().unwrap()
}

/// Make `path` look as an older template rendered it: the file, its base and its lock entry.
fn age(service: &Path, path: &str, old: &str) {
    std::fs::write(service.join(path), old).unwrap();
    std::fs::write(service.join(".hale-base").join(path), old).unwrap();
    let mut lock = read_lock(service);
    lock["templates"]["version"] = "0".into();
    let entry = entries(&mut lock)
        .iter_mut()
        .find(|e| e["path"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("{path} not in hale.lock"));
    entry["sha256"] = sha256(old.as_bytes()).into();
    entry["template_version"] = "sha256:0000000000000000".into();
    write_lock(service, &lock);
}

/// A file the older set rendered and today's set no longer has.
fn add_legacy(service: &Path, path: &str, text: &str) {
    for root in [service.to_path_buf(), service.join(".hale-base")] {
        let dest = root.join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, text).unwrap();
    }
    let mut lock = read_lock(service);
    let mut entry = toml::Table::new();
    entry.insert("path".into(), path.into());
    entry.insert("template".into(), format!("{path}.tera").into());
    entry.insert("template_version".into(), "sha256:0000000000000000".into());
    entry.insert("sha256".into(), sha256(text.as_bytes()).into());
    entries(&mut lock).push(entry.into());
    write_lock(service, &lock);
}

/// A file today's set renders and the older set did not have.
fn drop_new_file(service: &Path, path: &str) {
    std::fs::remove_file(service.join(path)).unwrap();
    std::fs::remove_file(service.join(".hale-base").join(path)).unwrap();
    let mut lock = read_lock(service);
    entries(&mut lock).retain(|e| e["path"].as_str() != Some(path));
    write_lock(service, &lock);
}

/// The text with its first line replaced: what an older template rendered.
fn older(current: &str, first_line: &str) -> String {
    let (_, rest) = current.split_once('\n').unwrap();
    format!("{first_line}\n{rest}")
}

fn upgrade(state: &Path, service: &Path, extra: &[&str]) -> Output {
    common::hale(state)
        .args(["--output", "json", "upgrade"])
        .arg(service)
        .args(extra)
        .output()
        .unwrap()
}

fn report(out: &Output) -> serde_json::Value {
    common::assert_success(out, "hale upgrade");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn listed(doc: &serde_json::Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {doc}"))
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v["path"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Every file below `root` with its bytes.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    common::tree(root)
        .into_iter()
        .filter(|p| root.join(p).is_file())
        .map(|p| {
            let bytes = std::fs::read(root.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

fn go(dir: &Path, args: &[&str]) {
    let out = Command::new("go")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const HANDLERS: &str = "internal/handlers/handlers.go";
const MODELS: &str = "internal/models/model.go";
const LEGACY: &str = "pkg/legacy/legacy.go";
const NEW_FILE: &str = "pkg/registry/lock_windows.go";

/// An `orders` service as an older template set left it, with `model.go` edited by its user at
/// the end of the file (away from the line the template changed).
struct Aged {
    service: PathBuf,
    current_handlers: String,
    current_models: String,
    user_models: String,
}

fn aged_service(tmp: &Path) -> Aged {
    let service = tmp.join("orders");
    common::scaffold(tmp, "orders", &service);
    let current_handlers = std::fs::read_to_string(service.join(HANDLERS)).unwrap();
    let current_models = std::fs::read_to_string(service.join(MODELS)).unwrap();
    age(
        &service,
        HANDLERS,
        &older(&current_handlers, "// Package handlers (template set 0)."),
    );
    let old_models = older(&current_models, "// Package models (template set 0).");
    age(&service, MODELS, &old_models);
    add_legacy(&service, LEGACY, "package legacy\n");
    drop_new_file(&service, NEW_FILE);
    // The user's own code, added where the template did not change anything.
    let user_models = format!(
        "{old_models}\n// Describe is the user's own addition.\nfunc (o Order) Describe() string {{\n\treturn fmt.Sprintf(\"%s x%d\", o.Name, o.Quantity)\n}}\n"
    );
    std::fs::write(service.join(MODELS), &user_models).unwrap();
    Aged {
        service,
        current_handlers,
        current_models,
        user_models,
    }
}

#[test]
fn upgrade_keeps_edited_files_merges_on_request_and_the_service_still_builds_and_tests() {
    need!(Go);
    let tmp = common::tempdir();
    let aged = aged_service(tmp.path());
    let service = &aged.service;

    // --dry-run: the diff on stdout, not a byte changed.
    let before = snapshot(service);
    let out = common::hale(tmp.path())
        .args(["upgrade", "--dry-run"])
        .arg(service)
        .output()
        .unwrap();
    common::assert_success(&out, "hale upgrade --dry-run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("--- a/{HANDLERS}\n+++ b/{HANDLERS}"))
            && stdout.contains("-// Package handlers (template set 0).")
            && stdout.contains(&format!("--- a/{LEGACY}\n+++ /dev/null"))
            && stdout.contains(&format!("--- /dev/null\n+++ b/{NEW_FILE}")),
        "{stdout}"
    );
    assert!(!stdout.contains(&format!("+++ b/{MODELS}")), "{stdout}");
    assert_eq!(snapshot(service), before, "--dry-run changed the service");

    // Plain upgrade: the untouched file updated, the edited one kept and listed.
    let doc = report(&upgrade(tmp.path(), service, &[]));
    assert_eq!(doc["schema"], "hale.upgrade/v1");
    assert_eq!(doc["from"]["version"], "0");
    assert_eq!(listed(&doc, "updated"), [HANDLERS]);
    assert_eq!(listed(&doc, "added"), [NEW_FILE]);
    assert_eq!(listed(&doc, "removed"), [LEGACY]);
    assert_eq!(listed(&doc, "kept"), [MODELS]);
    assert_eq!(doc["kept"][0]["reason"], "modified");
    assert!(listed(&doc, "conflicted").is_empty());
    assert_eq!(
        std::fs::read_to_string(service.join(HANDLERS)).unwrap(),
        aged.current_handlers
    );
    assert_eq!(
        std::fs::read_to_string(service.join(MODELS)).unwrap(),
        aged.user_models
    );
    assert!(service.join(NEW_FILE).is_file());
    assert!(
        !service.join("pkg/legacy").exists(),
        "the emptied folder stays"
    );
    assert!(!service.join(".hale-base/pkg/legacy").exists());

    // --merge: the template's change (line 1) and the user's (the end) both land.
    let doc = report(&upgrade(tmp.path(), service, &["--merge"]));
    assert_eq!(listed(&doc, "merged"), [MODELS]);
    assert!(listed(&doc, "updated").is_empty());
    let merged = std::fs::read_to_string(service.join(MODELS)).unwrap();
    assert!(!merged.contains("<<<<<<<"), "{merged}");
    assert_eq!(
        merged.lines().next(),
        aged.current_models.lines().next(),
        "the template's change is missing"
    );
    assert!(
        merged.contains("func (o Order) Describe() string"),
        "{merged}"
    );

    // Up to date now: nothing left to do, and the user's code is still theirs.
    let doc = report(&upgrade(tmp.path(), service, &["--merge"]));
    for key in [
        "updated",
        "merged",
        "conflicted",
        "added",
        "removed",
        "kept",
    ] {
        assert!(
            listed(&doc, key).is_empty(),
            "{key} after a full upgrade: {doc}"
        );
    }
    assert_eq!(doc["to"]["version"], doc["from"]["version"]);
    assert_eq!(
        std::fs::read_to_string(service.join(MODELS)).unwrap(),
        merged
    );

    // The upgraded service builds and passes its checks and its own tests.
    go(service, &["vet", "./..."]);
    go(service, &["build", "./..."]);
    go(service, &["test", "./..."]);
}

#[test]
fn merge_writes_git_conflict_markers_where_user_and_template_changed_the_same_lines() {
    let tmp = common::tempdir();
    let aged = aged_service(tmp.path());
    let service = &aged.service;
    // The user rewrote the very line the template changed.
    let mine = older(&aged.user_models, "// Package models: my own wording.");
    std::fs::write(service.join(MODELS), &mine).unwrap();

    let out = upgrade(tmp.path(), service, &["--merge"]);
    let doc = report(&out);
    assert_eq!(listed(&doc, "conflicted"), [MODELS]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("conflict markers"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let marked = std::fs::read_to_string(service.join(MODELS)).unwrap();
    let first = aged.current_models.lines().next().unwrap();
    assert!(
        marked.starts_with(&format!(
            "<<<<<<< ours\n// Package models: my own wording.\n=======\n{first}\n>>>>>>> theirs\n"
        )),
        "{marked}"
    );
    assert!(marked.contains("func (o Order) Describe() string"));
    // The conflicted file is the user's from now on: a second upgrade leaves it alone.
    let doc = report(&upgrade(tmp.path(), service, &["--merge"]));
    assert!(listed(&doc, "conflicted").is_empty(), "{doc}");
    assert_eq!(
        std::fs::read_to_string(service.join(MODELS)).unwrap(),
        marked
    );
}

#[test]
fn a_file_gone_from_the_templates_is_kept_when_the_user_changed_it() {
    let tmp = common::tempdir();
    let service = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &service);
    add_legacy(&service, LEGACY, "package legacy\n");
    std::fs::write(service.join(LEGACY), "package legacy\n\n// mine\n").unwrap();
    let doc = report(&upgrade(tmp.path(), &service, &[]));
    assert_eq!(doc["kept"][0]["path"], LEGACY);
    assert_eq!(doc["kept"][0]["reason"], "removed-from-templates");
    assert_eq!(
        std::fs::read_to_string(service.join(LEGACY)).unwrap(),
        "package legacy\n\n// mine\n"
    );
    assert!(!read_lock(&service).to_string().contains(LEGACY));
}

#[test]
fn bad_input_exits_2_with_one_line_and_changes_nothing() {
    let tmp = common::tempdir();
    let service = tmp.path().join("orders");
    common::scaffold(tmp.path(), "orders", &service);
    let lock = std::fs::read_to_string(service.join("hale.lock")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("no lock", String::new(), "has no hale.lock"),
        (
            "escaping path",
            lock.replacen("path = \".dockerignore\"", "path = \"../outside\"", 1),
            "../outside",
        ),
        (
            "newer format",
            lock.replacen("format = 1", "format = 99", 1),
            "newer hale",
        ),
        ("not TOML", "[[file]\n".to_string(), "hale.lock"),
    ];
    for (what, text, mentions) in cases {
        if text.is_empty() {
            std::fs::remove_file(service.join("hale.lock")).unwrap();
        } else {
            std::fs::write(service.join("hale.lock"), &text).unwrap();
        }
        let before = snapshot(tmp.path());
        let out = common::hale(tmp.path())
            .arg("upgrade")
            .arg(&service)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains(mentions), "{what}: {err}");
        assert_eq!(snapshot(tmp.path()), before, "{what} changed files");
    }
    let out = common::hale(tmp.path())
        .arg("upgrade")
        .arg(tmp.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
