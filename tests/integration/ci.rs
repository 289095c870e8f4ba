//! The CI pipelines `hale new` writes, checked by the real tools (actionlint, GitLab's schema
//! through check-jsonschema, golangci-lint), and the generated GitHub workflow's `run:` steps run
//! in order in a clean clone of a new service, as the runner would run them (hale on PATH, the
//! test registry, the CI variables set); and hale's CI-native output (annotations, step summary,
//! JUnit, SARIF, exit 99) under `GITHUB_ACTIONS=true`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{self, assert_success};

fn new_service(state: &Path, dir: &Path, ci: Option<&str>) {
    let mut cmd = common::hale(state);
    cmd.args(["new", "orders", "--no-tidy", "--dir"]).arg(dir);
    if let Some(ci) = ci {
        cmd.args(["--ci", ci]);
    }
    assert_success(&cmd.output().unwrap(), "hale new");
}

/// A Go vulnerability database folder in the layout govulncheck reads from `-db file://…`
/// (`index/db.json`, `index/modules.json`, `ID/<id>.json` in OSV), made here since the CI has
/// no network: one entry, GO-2099-0001, for client_golang's `prometheus.NewCounterVec`, which
/// the generated service calls, fixed in `fixed`. Returns its `file://` URL.
fn vuln_db(root: &Path, fixed: &str) -> String {
    let modified = "2026-01-01T00:00:00Z";
    let module = "github.com/prometheus/client_golang";
    std::fs::create_dir_all(root.join("index")).unwrap();
    std::fs::create_dir_all(root.join("ID")).unwrap();
    let write = |rel: &str, v: Value| std::fs::write(root.join(rel), v.to_string()).unwrap();
    write("index/db.json", serde_json::json!({ "modified": modified }));
    write(
        "index/modules.json",
        serde_json::json!([{
            "path": module,
            "vulns": [{ "id": "GO-2099-0001", "modified": modified, "fixed": fixed }],
        }]),
    );
    write(
        "ID/GO-2099-0001.json",
        serde_json::json!({
            "schema_version": "1.3.1",
            "id": "GO-2099-0001",
            "modified": modified,
            "published": modified,
            "summary": "a vulnerability the hale tests made up",
            "details": "Counters leak.",
            "affected": [{
                "package": { "name": module, "ecosystem": "Go" },
                "ranges": [{
                    "type": "SEMVER",
                    "events": [{ "introduced": "0" }, { "fixed": fixed }],
                }],
                "ecosystem_specific": {
                    "imports": [{
                        "path": format!("{module}/prometheus"),
                        "symbols": ["NewCounterVec"],
                    }],
                },
            }],
            "database_specific": { "url": "https://vulndb.invalid/GO-2099-0001" },
        }),
    );
    format!("file://{}", root.display())
}

#[test]
fn the_generated_github_workflow_passes_actionlint() {
    let actionlint = need!(Actionlint);
    let tmp = common::tempdir();
    // Both ways of getting hale: from a release folder (a build that knows no action
    // repository) and through the action HALE_ACTION names.
    for action in [None, Some("acme/hale")] {
        let dir = tmp
            .path()
            .join(action.map_or("orders", |_| "orders-action"));
        let mut cmd = common::hale(tmp.path());
        cmd.args(["new", "orders", "--no-tidy", "--dir"]).arg(&dir);
        if let Some(action) = action {
            cmd.env("HALE_ACTION", action);
        }
        assert_success(&cmd.output().unwrap(), "hale new");
        assert!(!dir.join(".gitlab-ci.yml").exists());
        let workflow = std::fs::read_to_string(dir.join(".github/workflows/ci.yml")).unwrap();
        let uses = format!("uses: acme/hale@v{}", env!("CARGO_PKG_VERSION"));
        match action {
            Some(_) => {
                assert_eq!(workflow.matches(&uses).count(), 3, "{workflow}");
                assert!(!workflow.contains("HALE_RELEASE_URL"), "{workflow}");
            }
            None => {
                assert!(!workflow.contains("uses: acme/"), "{workflow}");
                assert_eq!(
                    workflow
                        .matches("name: install hale from vars.HALE_RELEASE_URL")
                        .count(),
                    3,
                    "{workflow}"
                );
            }
        }
        let out = Command::new(&actionlint)
            .arg(".github/workflows/ci.yml")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_success(&out, "actionlint");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.trim().is_empty(), "{text}");
    }
}

#[test]
fn hale_action_is_recorded_kept_by_upgrade_and_checked() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    let out = common::hale(tmp.path())
        .args(["new", "orders", "--no-tidy", "--dir"])
        .arg(&dir)
        .env("HALE_ACTION", "acme/hale")
        .output()
        .unwrap();
    assert_success(&out, "hale new with HALE_ACTION");
    let lock = std::fs::read_to_string(dir.join("hale.lock")).unwrap();
    assert!(lock.contains("hale_action = \"acme/hale\""), "{lock}");
    // Upgraded without the variable, the workflow keeps the action it was made with.
    let out = common::hale(tmp.path())
        .args(["upgrade", "--output", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_success(&out, "hale upgrade");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["updated"], serde_json::json!([]), "{doc}");
    // Upgraded with another, the workflow moves to it.
    let out = common::hale(tmp.path())
        .args(["upgrade", "--output", "json"])
        .arg(&dir)
        .env("HALE_ACTION", "other-org/hale-fork")
        .output()
        .unwrap();
    assert_success(&out, "hale upgrade with HALE_ACTION");
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/ci.yml")).unwrap();
    assert!(
        workflow.contains(&format!(
            "uses: other-org/hale-fork@v{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{workflow}"
    );
    // Not a repository: the user's mistake, nothing written.
    for bad in ["acme", "acme/hale@v1", "-acme/hale", "acme/../x"] {
        let target = tmp.path().join("bad");
        let out = common::hale(tmp.path())
            .args(["new", "orders", "--no-tidy", "--dir"])
            .arg(&target)
            .env("HALE_ACTION", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "HALE_ACTION={bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("OWNER/REPO"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!target.exists());
    }
}

#[test]
fn the_generated_gitlab_pipeline_passes_gitlabs_schema() {
    let check = need!(CheckJsonschema);
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    new_service(tmp.path(), &dir, Some("gitlab"));
    assert!(
        !dir.join(".github").exists(),
        "--ci gitlab writes no GitHub workflow"
    );
    let out = Command::new(&check)
        .args(["--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_success(&out, "check-jsonschema --builtin-schema vendor.gitlab-ci");
}

#[test]
fn ci_none_writes_no_pipeline_and_upgrade_keeps_each_choice() {
    let tmp = common::tempdir();
    for (ci, present, absent) in [
        ("none", None, [".github", ".gitlab-ci.yml"]),
        ("gitlab", Some(".gitlab-ci.yml"), [".github", ".github"]),
        (
            "github",
            Some(".github/workflows/ci.yml"),
            [".gitlab-ci.yml", ".gitlab-ci.yml"],
        ),
    ] {
        let dir = tmp.path().join(ci);
        new_service(tmp.path(), &dir, Some(ci));
        for f in absent {
            assert!(!dir.join(f).exists(), "--ci {ci} wrote {f}");
        }
        if let Some(f) = present {
            assert!(dir.join(f).is_file(), "--ci {ci} did not write {f}");
        }
        for f in ["Makefile", ".golangci.yml"] {
            assert!(dir.join(f).is_file(), "--ci {ci}: no {f}");
        }
        let out = common::hale(tmp.path())
            .args(["upgrade", "--output", "json"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_success(&out, "hale upgrade");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["added"], serde_json::json!([]), "--ci {ci}: {doc}");
        assert_eq!(doc["removed"], serde_json::json!([]), "--ci {ci}: {doc}");
    }
    let lock = std::fs::read_to_string(tmp.path().join("gitlab/hale.lock")).unwrap();
    assert!(lock.contains("ci = \"gitlab\""), "{lock}");
}

#[test]
fn upgrade_adds_the_workflow_to_a_service_made_before_it_existed() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    new_service(tmp.path(), &dir, None);
    // What a service made before the pipeline templates looks like: no workflow, no lock entry.
    let workflow = ".github/workflows/ci.yml";
    std::fs::remove_dir_all(dir.join(".github")).unwrap();
    std::fs::remove_dir_all(dir.join(".hale-base/.github")).unwrap();
    let lock = std::fs::read_to_string(dir.join("hale.lock")).unwrap();
    let kept: Vec<&str> = lock
        .split("\n[[file]]\n")
        .filter(|e| !e.contains(workflow))
        .collect();
    std::fs::write(dir.join("hale.lock"), kept.join("\n[[file]]\n")).unwrap();
    let out = common::hale(tmp.path())
        .args(["upgrade", "--output", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_success(&out, "hale upgrade");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["added"], serde_json::json!([workflow]), "{doc}");
    assert!(dir.join(workflow).is_file());
}

/// A GitHub Actions expression the generated workflow uses, evaluated the way the runner would:
/// `a || b` chains over `vars.*`, `secrets.*`, `github.*`, `steps.<id>.outputs.*` and
/// `needs.<job>.outputs.*`. Anything else fails the test (it would need a real runner).
fn evaluate(expr: &str, ctx: &BTreeMap<String, String>) -> String {
    for operand in expr.split("||").map(str::trim) {
        let value = if let Some(lit) = operand
            .strip_prefix('\'')
            .and_then(|s| s.strip_suffix('\''))
        {
            lit.to_string()
        } else {
            let known = [
                "vars.", "secrets.", "github.", "steps.", "needs.", "runner.",
            ];
            assert!(
                known.iter().any(|p| operand.starts_with(p)),
                "the workflow uses an expression this test cannot evaluate: {expr}"
            );
            ctx.get(operand).cloned().unwrap_or_default()
        };
        if !value.is_empty() {
            return value;
        }
    }
    String::new()
}

/// Replace every `${{ … }}` in `text`.
fn interpolate(text: &str, ctx: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed ${{") + start;
        out.push_str(&evaluate(rest[start + 3..end].trim(), ctx));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `NAME=value` lines, and `NAME<<DELIM … DELIM` blocks, of a GITHUB_OUTPUT/GITHUB_ENV file.
fn read_kv(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            out.push((name.to_string(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

/// Where a workflow run happens: the service's repository, its commit and the branch pushed.
struct Run<'a> {
    tmp: &'a Path,
    origin: &'a Path,
    sha: &'a str,
    branch: &'a str,
    /// PATH with hale's folder first.
    path: &'a str,
    workflow_env: &'a BTreeMap<String, String>,
}

impl Run<'_> {
    /// Run every `run:` step of `job` in a fresh clone, as the runner would, recording its
    /// outputs into `ctx` (`steps.*` while it runs, `needs.<name>.outputs.*` after). Returns the
    /// `uses:` steps it left to the runner.
    fn job(&self, name: &str, job: &Value, ctx: &mut BTreeMap<String, String>) -> Vec<String> {
        let mut skipped_uses = Vec::new();
        // A clean checkout per job, as actions/checkout gives.
        let work = self.tmp.join(format!("job-{name}-{}", self.branch));
        let dir = common::clone(self.origin, &work);
        let runner_temp = work.join("runner-temp");
        std::fs::create_dir_all(&runner_temp).unwrap();
        let mut job_env: BTreeMap<String, String> = self.workflow_env.clone();
        let mut extra_path: Vec<String> = Vec::new();
        for (i, step) in job["steps"].as_array().unwrap().iter().enumerate() {
            let Some(script) = step["run"].as_str() else {
                skipped_uses.push(format!("{name}: {}", step["uses"].as_str().unwrap_or("?")));
                continue;
            };
            assert!(
                !script.contains("${{"),
                "run: steps take expressions through env: {script}"
            );
            let files = work.join(format!("step-{i}"));
            std::fs::create_dir_all(&files).unwrap();
            let (output, env_file, path_file, summary) = (
                files.join("output"),
                files.join("env"),
                files.join("path"),
                files.join("summary"),
            );
            let script_file = files.join("script.sh");
            std::fs::write(&script_file, script).unwrap();
            let path: Vec<String> = extra_path
                .iter()
                .rev()
                .cloned()
                .chain([self.path.to_string()])
                .collect();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .current_dir(&dir)
                .env("PATH", path.join(":"))
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_WORKSPACE", &dir)
                .env("GITHUB_SHA", self.sha)
                .env("GITHUB_REPOSITORY", "Acme/orders")
                .env("GITHUB_REF", format!("refs/heads/{}", self.branch))
                .env("GITHUB_REF_NAME", self.branch)
                .env("GITHUB_EVENT_NAME", "push")
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_TEMP", &runner_temp)
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_ENV", &env_file)
                .env("GITHUB_PATH", &path_file)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("HALE_STATE_DIR", self.tmp.join("state"))
                .env_remove("DOCKER_CONFIG")
                .env_remove("KUBECONFIG")
                .env_remove("NO_COLOR");
            for (k, v) in &job_env {
                cmd.env(k, v);
            }
            if let Some(env) = step["env"].as_object() {
                for (k, v) in env {
                    cmd.env(k, interpolate(v.as_str().unwrap(), ctx));
                }
            }
            let out = cmd.output().unwrap();
            let shown = step["name"].as_str().unwrap_or(script);
            assert_success(&out, &format!("job {name}, step {shown:?}"));
            eprintln!("job {name}, step {shown:?}: ok");
            for (k, v) in read_kv(&env_file) {
                job_env.insert(k, v);
            }
            extra_path.extend(
                std::fs::read_to_string(&path_file)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string),
            );
            if let Some(id) = step["id"].as_str() {
                for (k, v) in read_kv(&output) {
                    ctx.insert(format!("steps.{id}.outputs.{k}"), v);
                }
            }
            if script.contains("hale deploy --context") {
                let summary = std::fs::read_to_string(&summary).unwrap();
                assert!(summary.contains("### hale deploy: orders"), "{summary}");
                assert!(summary.contains("| rolled out |"), "{summary}");
            }
            if script.contains("hale deploy --render --check") {
                let summary = std::fs::read_to_string(&summary).unwrap();
                assert!(summary.contains("### hale deploy --check"), "{summary}");
                let sarif: Value =
                    serde_json::from_slice(&std::fs::read(dir.join("hale-check.sarif")).unwrap())
                        .unwrap();
                assert_eq!(sarif["version"], "2.1.0");
                let junit = std::fs::read_to_string(dir.join("hale-check.xml")).unwrap();
                assert!(junit.contains("failures=\"0\""), "{junit}");
            }
        }
        if installs_hale(job) {
            assert!(
                runner_temp.join("hale/bin/hale").is_file(),
                "job {name} installed hale from the release folder"
            );
        }
        if let Some(outputs) = job["outputs"].as_object() {
            for (k, v) in outputs {
                let value = interpolate(v.as_str().unwrap(), ctx);
                ctx.insert(format!("needs.{name}.outputs.{k}"), value);
            }
        }
        skipped_uses
    }
}

/// Whether a job of the generated workflow installs hale from `vars.HALE_RELEASE_URL`.
fn installs_hale(job: &Value) -> bool {
    job["steps"].as_array().unwrap().iter().any(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("install hale from"))
    })
}

/// The deploy job's guard, as the generated workflow writes it.
const DEPLOY_GUARD: &str = "${{ github.event_name == 'push' && github.ref_name == github.event.repository.default_branch && vars.DEPLOY_CONTEXT != '' }}";

/// A namespace of the test cluster, deleted (without waiting) when dropped.
struct TestNamespace {
    kubectl: String,
    kubeconfig: String,
    name: String,
}

impl TestNamespace {
    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.kubectl)
            .args(["--kubeconfig", &self.kubeconfig, "--context", "hale-test"])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = self.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// The admin kubeconfig with one more context, `ci-deploy`: the admin's cluster and user in
/// `namespace`, as a cluster's owner would hand a pipeline (the KUBECONFIG secret).
fn pipeline_kubeconfig(admin: &str, namespace: &str) -> String {
    let mut config: Value =
        serde_norway::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    let admin_context = config["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hale-test")
        .expect("the admin kubeconfig has the hale-test context")["context"]
        .clone();
    let mut context = admin_context;
    context["namespace"] = namespace.into();
    config["contexts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "name": "ci-deploy", "context": context }));
    serde_norway::to_string(&config).unwrap()
}

#[test]
fn every_run_step_of_the_generated_workflow_runs_green() {
    let registry = need!(OciRegistry);
    let _go = need!(Go);
    // The lint job builds golangci-lint from its Go module, as on a runner; the test
    // environment's ci.sh has built the same version, so the module and build caches are warm.
    let _golangci_lint = need!(GolangciLint);
    // The vulncheck job builds govulncheck from its Go module the same way.
    let _govulncheck = need!(Govulncheck);
    let tmp = common::tempdir();
    let origin = tmp.path().join("origin");
    new_service(tmp.path(), &origin, None);
    // The runner has no network here: govulncheck reads a database folder (vars.GOVULNDB),
    // whose one entry was fixed before the version the service requires.
    let govulndb = vuln_db(&tmp.path().join("vulndb"), "1.0.0");
    common::git(&origin, &["init", "-q", "-b", "feature"]);
    common::git(&origin, &["add", "-A"]);
    common::git(&origin, &["commit", "-qm", "generated"]);
    common::git(&origin, &["branch", "main"]);
    let sha = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&origin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();

    let workflow: Value = serde_norway::from_str(
        &std::fs::read_to_string(origin.join(".github/workflows/ci.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(workflow["defaults"]["run"]["shell"], "bash");
    // hale is not on the jobs' PATH: each job installs it from the release folder
    // vars.HALE_RELEASE_URL names (this build knows no action repository), as a runner would.
    let path = std::env::var("PATH").unwrap();
    let release_url = serve_release(tmp.path());
    let repository = format!("{registry}/ci-test/orders");

    // The CI's variables and contexts: a push to a feature branch (the deploy job is guarded to
    // the default branch), the registry named by vars.IMAGE_REPOSITORY.
    let mut ctx: BTreeMap<String, String> = [
        ("vars.IMAGE_REPOSITORY", repository.as_str()),
        ("vars.HALE_RELEASE_URL", release_url.as_str()),
        ("secrets.GITHUB_TOKEN", "ghs_test-token"),
        ("github.actor", "tester"),
        ("github.ref", "refs/heads/feature"),
        ("runner.os", "Linux"),
        ("vars.GOVULNDB", govulndb.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let workflow_env: BTreeMap<String, String> = workflow["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default();

    let jobs = workflow["jobs"].as_object().unwrap();
    let needs_of = |job: &Value| -> Vec<String> {
        match &job["needs"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            _ => vec![],
        }
    };
    // The runner's order: a job starts when every job it needs has finished.
    let mut order: Vec<&str> = Vec::new();
    while order.len() < jobs.len() {
        let next = jobs
            .iter()
            .find(|(name, job)| {
                !order.contains(&name.as_str())
                    && needs_of(job).iter().all(|n| order.contains(&n.as_str()))
            })
            .map(|(name, _)| name.as_str())
            .expect("the jobs' needs form no cycle and name existing jobs");
        order.push(next);
    }
    let feature = Run {
        tmp: tmp.path(),
        origin: &origin,
        sha: &sha,
        branch: "feature",
        path: &path,
        workflow_env: &workflow_env,
    };
    let mut done: Vec<&str> = Vec::new();
    let mut skipped_uses = Vec::new();
    for name in &order {
        let job = &jobs[*name];
        if let Some(cond) = job["if"].as_str() {
            assert_eq!(*name, "deploy", "only the deploy job is conditional");
            assert_eq!(cond, DEPLOY_GUARD);
            eprintln!("job {name}: skipped, as on a feature branch ({cond})");
            continue;
        }
        skipped_uses.extend(feature.job(name, job, &mut ctx));
        done.push(name);
    }
    assert_eq!(done, ["lint", "test", "vulncheck", "image", "manifests"]);
    eprintln!("uses: steps not run here (the runner's actions): {skipped_uses:?}");

    // The image job's outputs name the pushed image by digest, and the registry has it.
    let image = ctx["needs.image.outputs.image"].clone();
    let digest = &ctx["needs.image.outputs.digest"];
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(image, format!("{repository}@{digest}"));
    let status = reqwest::blocking::Client::new()
        .get(format!(
            "http://{registry}/v2/ci-test/orders/manifests/{digest}"
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200, "the registry has the pushed manifest");

    // The same commit pushed to the default branch, with a cluster named by vars.DEPLOY_CONTEXT:
    // the guard holds (push, main == main, a context), and the deploy job rolls the pushed
    // digest out to the test cluster's namespace that context names.
    let Some(kubeconfig) = common::service(common::Service::Kube) else {
        return;
    };
    let _crds = super::kube::CRDS.blocking_lock();
    let ns = TestNamespace {
        kubectl: std::env::var("HALE_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".into()),
        kubeconfig: kubeconfig.clone(),
        name: format!("ci-{}", std::process::id()),
    };
    assert_success(
        &ns.kubectl(&["create", "namespace", &ns.name]),
        "kubectl create namespace",
    );
    ctx.insert("github.ref".into(), "refs/heads/main".into());
    ctx.insert("vars.DEPLOY_CONTEXT".into(), "ci-deploy".into());
    ctx.insert(
        "secrets.KUBECONFIG".into(),
        pipeline_kubeconfig(&kubeconfig, &ns.name),
    );
    let main = Run {
        branch: "main",
        ..feature
    };
    let _ = main.job("deploy", &jobs["deploy"], &mut ctx);
    let out = ns.kubectl(&[
        "-n",
        &ns.name,
        "get",
        "deployment",
        "orders",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_success(&out, "kubectl get deployment orders");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        image,
        "the pushed digest is what runs"
    );
}

#[test]
fn every_script_of_the_generated_gitlab_pipeline_runs_green() {
    let registry = need!(OciRegistry);
    let _go = need!(Go);
    let _golangci_lint = need!(GolangciLint);
    let _govulncheck = need!(Govulncheck);
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the release archive of this test is labelled for x86_64");
        return;
    }
    let tmp = common::tempdir();
    let origin = tmp.path().join("origin");
    new_service(tmp.path(), &origin, Some("gitlab"));
    common::git(&origin, &["init", "-q", "-b", "feature"]);
    common::git(&origin, &["add", "-A"]);
    common::git(&origin, &["commit", "-qm", "generated"]);
    let pipeline: Value =
        serde_norway::from_str(&std::fs::read_to_string(origin.join(".gitlab-ci.yml")).unwrap())
            .unwrap();
    let release_url = serve_release(tmp.path());
    let repository = format!("{registry}/ci-test/orders-gitlab");
    // The pipeline's variables, as the runner sets them, but GOPATH and GOCACHE: those put
    // Go's caches inside the project for GitLab's cache: to keep (the runner's part, like
    // actions/cache on GitHub); here the test machine's warm caches stand in for them.
    let mut variables: BTreeMap<String, String> = pipeline["variables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    for name in ["GOPATH", "GOCACHE"] {
        assert!(variables.contains_key(name), "the pipeline sets {name}");
        let out = Command::new("go").args(["env", name]).output().unwrap();
        assert_success(&out, "go env");
        let value = String::from_utf8(out.stdout).unwrap().trim().to_string();
        variables.insert(name.into(), value);
    }
    variables.insert("HALE_RELEASE_URL".into(), release_url);
    variables.insert(
        "GOVULNDB".into(),
        vuln_db(&tmp.path().join("vulndb"), "1.0.0"),
    );
    variables.insert("CI_REGISTRY_IMAGE".into(), repository.clone());
    variables.insert("CI_REGISTRY_USER".into(), "gitlab-ci-token".into());
    variables.insert("CI_REGISTRY_PASSWORD".into(), "test-token".into());

    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(stages, ["test", "lint", "image", "manifests", "deploy"]);
    let jobs: Vec<(&String, &Value)> = pipeline
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, job)| !name.starts_with('.') && job.get("stage").is_some())
        .collect();
    let mut ran = Vec::new();
    for stage in stages {
        for (name, job) in jobs.iter().filter(|(_, j)| j["stage"] == stage) {
            if let Some(rules) = job["rules"].as_array() {
                assert_eq!(name.as_str(), "deploy", "only the deploy job has rules");
                assert_eq!(
                    rules[0]["if"],
                    "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $DEPLOY_CONTEXT"
                );
                eprintln!("job {name}: skipped, as on a feature branch without DEPLOY_CONTEXT");
                continue;
            }
            // before_script from the job or the hidden job it extends, then script, in one
            // shell, as the runner runs them.
            let base = job["extends"].as_str().map(|e| &pipeline[e]);
            let before = job["before_script"]
                .as_array()
                .or_else(|| base.and_then(|b| b["before_script"].as_array()));
            let lines: Vec<&str> = before
                .into_iter()
                .flatten()
                .chain(job["script"].as_array().unwrap())
                .map(|l| l.as_str().unwrap())
                .collect();
            let work = tmp.path().join(format!("job-{name}"));
            let dir = common::clone(&origin, &work);
            let script = work.join("script.sh");
            std::fs::write(&script, lines.join("\n")).unwrap();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&dir)
                .env("PATH", std::env::var("PATH").unwrap())
                .env("CI", "true")
                .env("GITLAB_CI", "true")
                .env("CI_PROJECT_DIR", &dir)
                .env("CI_COMMIT_BRANCH", "feature")
                .env("CI_COMMIT_REF_SLUG", "feature")
                .env("CI_DEFAULT_BRANCH", "main")
                .env("CI_COMMIT_SHORT_SHA", "0123abcd")
                .env("HALE_STATE_DIR", tmp.path().join("state"))
                .env_remove("DOCKER_CONFIG")
                .env_remove("KUBECONFIG")
                .env_remove("GITHUB_ACTIONS")
                .env_remove("NO_COLOR");
            for (k, v) in &variables {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            assert_success(&out, &format!("GitLab job {name}"));
            eprintln!("job {name}: ok");
            if job["extends"] == ".hale" {
                assert!(
                    dir.join(".hale-release/bin/hale").is_file(),
                    "job {name} installed hale from HALE_RELEASE_URL"
                );
            }
            // The dotenv report reaches the later jobs as variables.
            if let Some(dotenv) = job["artifacts"]["reports"]["dotenv"].as_str() {
                for (k, v) in read_kv(&dir.join(dotenv)) {
                    variables.insert(k, v);
                }
            }
            if let Some(junit) = job["artifacts"]["reports"]["junit"].as_str() {
                let junit = std::fs::read_to_string(dir.join(junit)).unwrap();
                assert!(junit.contains("failures=\"0\""), "{junit}");
            }
            ran.push(name.as_str());
        }
    }
    assert_eq!(
        ran,
        ["test", "lint", "vulncheck", "push-image", "manifests"]
    );
    let image = &variables["IMAGE"];
    let digest = image
        .strip_prefix(&format!("{repository}@"))
        .unwrap_or_else(|| panic!("IMAGE={image} names the pushed digest"));
    let status = reqwest::blocking::Client::new()
        .get(format!(
            "http://{registry}/v2/ci-test/orders-gitlab/manifests/{digest}"
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
        )
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 200, "the registry has the pushed manifest");
}

/// The generated workflow's govulncheck step, run as the runner runs it, fails the job on a
/// vulnerability the code reaches (govulncheck's exit 3, naming the entry and the call) and
/// passes once the required version has the fix; the version CI installs is the one
/// scripts/test-env.d/ci.sh built, in both pipelines.
#[test]
fn the_govulncheck_step_fails_on_a_reachable_vulnerability_from_an_offline_database() {
    let _go = need!(Go);
    let govulncheck = need!(Govulncheck);
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    new_service(tmp.path(), &dir, None);
    let workflow: Value = serde_norway::from_str(
        &std::fs::read_to_string(dir.join(".github/workflows/ci.yml")).unwrap(),
    )
    .unwrap();
    let version = workflow["env"]["GOVULNCHECK_VERSION"].as_str().unwrap();
    assert!(
        govulncheck.contains(&format!("/govulncheck-{version}/")),
        "the workflow installs govulncheck {version}, ci.sh built {govulncheck}"
    );
    let step = workflow["jobs"]["vulncheck"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "govulncheck")
        .expect("the vulncheck job has a govulncheck step")
        .clone();
    assert_eq!(step["env"]["GOVULNDB"], "${{ vars.GOVULNDB }}");
    let script = tmp.path().join("govulncheck.sh");
    std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
    let bin_dir = Path::new(&govulncheck).parent().unwrap();
    let run = |db: &str| {
        Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&dir)
            .env(
                "PATH",
                format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("GOVULNDB", db)
            .env("CI", "true")
            .output()
            .unwrap()
    };

    let affected = run(&vuln_db(&tmp.path().join("affected"), "1.99.0"));
    let text = String::from_utf8_lossy(&affected.stdout);
    assert_eq!(
        affected.status.code(),
        Some(3),
        "govulncheck fails the step on a reachable vulnerability:\n{text}{}",
        String::from_utf8_lossy(&affected.stderr)
    );
    assert!(text.contains("GO-2099-0001"), "{text}");
    assert!(text.contains("calls prometheus.NewCounterVec"), "{text}");
    assert!(
        text.contains("Fixed in: github.com/prometheus/client_golang@v1.99.0"),
        "{text}"
    );

    let fixed = run(&vuln_db(&tmp.path().join("fixed"), "1.0.0"));
    assert_success(&fixed, "govulncheck against a database whose fix is older");
    assert!(
        String::from_utf8_lossy(&fixed.stdout).contains("No vulnerabilities found"),
        "{}",
        String::from_utf8_lossy(&fixed.stdout)
    );

    // The GitLab pipeline installs the same version.
    let gitlab = tmp.path().join("orders-gitlab");
    new_service(tmp.path(), &gitlab, Some("gitlab"));
    let pipeline: Value =
        serde_norway::from_str(&std::fs::read_to_string(gitlab.join(".gitlab-ci.yml")).unwrap())
            .unwrap();
    assert_eq!(pipeline["variables"]["GOVULNCHECK_VERSION"], version);
    assert_eq!(pipeline["vulncheck"]["stage"], "lint");
}

/// go.mod names a patched Go release as its toolchain, and the Go these tests (and the
/// pipelines' steps) run is that release or newer, so no toolchain is downloaded.
#[test]
fn the_generated_go_mod_states_a_patched_toolchain() {
    let _go = need!(Go);
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    new_service(tmp.path(), &dir, None);
    let go_mod = std::fs::read_to_string(dir.join("go.mod")).unwrap();
    let toolchain = go_mod
        .lines()
        .find_map(|l| l.strip_prefix("toolchain "))
        .unwrap_or_else(|| panic!("go.mod states no toolchain:\n{go_mod}"));
    let go_line = go_mod.lines().find_map(|l| l.strip_prefix("go ")).unwrap();
    let version = |v: &str| -> Vec<u32> {
        v.trim_start_matches("go")
            .split('.')
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let (t, g) = (version(toolchain), version(go_line));
    assert_eq!(t.len(), 3, "{toolchain} names a patch release");
    assert!(t[2] >= 1, "{toolchain} is a patched release, not .0");
    assert_eq!(t[..2], g[..2], "{toolchain} is a release of go {go_line}");
    let out = Command::new("go")
        .args(["env", "GOVERSION"])
        .output()
        .unwrap();
    let local = String::from_utf8(out.stdout).unwrap();
    assert!(
        version(local.trim()) >= t,
        "this machine's {} is older than the generated toolchain {toolchain}",
        local.trim()
    );
}

/// A manifests folder with the mistakes `--check` finds, for the CI-output tests.
fn bad_manifests(dir: &Path) -> PathBuf {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\nspec:\n  selector:\n    matchLabels: {{app: app{i}}}\n  template:\n    metadata:\n      labels: {{app: app{i}}}\n    spec:\n      containers:\n      - name: app\n        image: app:latest\n"
        ));
    }
    std::fs::write(m.join("apps.yaml"), text).unwrap();
    m
}

#[test]
fn check_findings_become_annotations_summary_junit_and_sarif_under_github_actions() {
    let tmp = common::tempdir();
    bad_manifests(tmp.path());
    let summary = tmp.path().join("summary.md");
    let out = common::hale(tmp.path())
        .current_dir(tmp.path())
        .args([
            "deploy",
            "--check",
            "manifests",
            "--report",
            "junit=check.xml",
            "--report",
            "sarif=check.sarif",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", tmp.path())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::warning "))
        .collect();
    assert_eq!(errors.len(), 10, "capped at 10 per level: {stdout}");
    assert_eq!(warnings.len(), 10, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let first_warning = lines
        .iter()
        .position(|l| l.starts_with("::warning "))
        .unwrap();
    let last_error = lines
        .iter()
        .rposition(|l| l.starts_with("::error "))
        .unwrap();
    assert!(last_error < first_warning, "errors first: {stdout}");
    // The first Deployment's kind: line is line 3 of the file (after `---` and apiVersion).
    assert!(
        errors[0]
            .starts_with("::error file=manifests/apps.yaml,line=3,title=hale deploy --check%3A "),
        "{}",
        errors[0]
    );
    let note = stdout
        .lines()
        .find(|l| l.starts_with("::notice "))
        .expect("a left-out note");
    assert!(
        note.contains("errors") && note.contains("not annotated"),
        "{note}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("### hale deploy --check") && md.contains("| error | `latest-tag` |"),
        "{md}"
    );
    let junit = std::fs::read_to_string(tmp.path().join("check.xml")).unwrap();
    assert!(
        junit.contains("<testcase classname=\"hale.deploy.check\" name=\"latest-tag\""),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"12 finding(s)"),
        "{junit}"
    );
    let sarif: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("check.sarif")).unwrap()).unwrap();
    let loc = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "manifests/apps.yaml");
    assert!(loc["region"]["startLine"].as_u64().is_some(), "{loc}");

    // Outside GitHub Actions: no annotations, no summary; the report files all the same.
    let out = common::hale(tmp.path())
        .current_dir(tmp.path())
        .args([
            "deploy",
            "--check",
            "manifests",
            "--report",
            "junit=plain.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));
    assert!(tmp.path().join("plain.xml").is_file());
}

#[test]
fn bad_report_flags_are_refused_before_anything_runs() {
    let tmp = common::tempdir();
    let manifests = bad_manifests(tmp.path());
    for (args, says) in [
        (
            vec!["deploy", "--check", "manifests", "--report", "html=x.html"],
            "hale deploy --check writes junit=PATH, sarif=PATH",
        ),
        (
            vec!["deploy", "--check", "manifests", "--report", "xml=x"],
            "unknown report format",
        ),
        (
            vec![
                "load",
                "--url",
                "http://127.0.0.1:1/",
                "-n",
                "1",
                "--report",
                "sarif=x",
            ],
            "hale load writes html=PATH, junit=PATH",
        ),
    ] {
        let out = common::hale(tmp.path())
            .current_dir(tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert!(manifests.is_dir());
}

/// An HTTP/1.1 server on a free loopback port answering every request with 200 and an empty
/// body, keeping connections alive; it lives as long as the test process.
fn ok_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut reader = BufReader::new(conn);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                            if writer.write_all(reply).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn failed_load_assertions_exit_99_with_annotations_summary_and_junit() {
    let tmp = common::tempdir();
    let addr = ok_server();
    let summary = tmp.path().join("summary.md");
    let out = common::hale(tmp.path())
        .current_dir(tmp.path())
        .args(["load", "--url", &format!("http://{addr}/"), "-n", "200"])
        .args([
            "--assert",
            "p99<0.001ms",
            "--assert",
            "errors<1%",
            "--report",
            "junit=load.xml",
        ])
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(99), "{stderr}");
    assert!(stderr.contains("assertion failed: p99<0.001ms"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 1, "{stdout}");
    assert!(
        annotations[0].starts_with("::error title=hale load%3A p99<0.001ms failed::assertion p99<0.001ms did not hold: measured "),
        "{}",
        annotations[0]
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    for part in [
        "### hale load: GET",
        "| corrected |",
        "| `p99<0.001ms` | **FAIL** |",
        "| `errors<1%` | pass |",
    ] {
        assert!(md.contains(part), "{part} not in {md}");
    }
    let junit = std::fs::read_to_string(tmp.path().join("load.xml")).unwrap();
    assert!(junit.contains("tests=\"2\" failures=\"1\""), "{junit}");
    assert!(
        junit.contains("<testcase classname=\"hale.load\" name=\"errors&lt;1%\""),
        "{junit}"
    );

    // Passing assertions: exit 0, a summary, no annotation.
    let out = common::hale(tmp.path())
        .args([
            "load",
            "--url",
            &format!("http://{addr}/"),
            "-n",
            "50",
            "--assert",
            "errors<1%",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_success(&out, "hale load with a passing assertion");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::error"));
}

#[test]
fn the_makefile_targets_run_what_ci_runs() {
    let tmp = common::tempdir();
    let dir = tmp.path().join("orders");
    new_service(tmp.path(), &dir, None);
    let make = |args: &[&str]| {
        let hale_dir = Path::new(env!("CARGO_BIN_EXE_hale")).parent().unwrap();
        Command::new("make")
            .args(args)
            .current_dir(&dir)
            .env(
                "PATH",
                format!("{}:{}", hale_dir.display(), std::env::var("PATH").unwrap()),
            )
            .env("HALE_STATE_DIR", tmp.path().join("state"))
            .output()
            .unwrap()
    };
    let out = make(&[
        "-n",
        "lint",
        "test",
        "vulncheck",
        "image",
        "manifests",
        "deploy",
        "IMAGE=127.0.0.1:5000/o:1",
        "CONTEXT=prod",
    ]);
    assert_success(&out, "make -n");
    let plan = String::from_utf8_lossy(&out.stdout);
    for line in [
        "go vet ./...",
        "golangci-lint run ./...",
        "govulncheck ./...",
        "go test -race -covermode=atomic -coverprofile=coverage.out ./...",
        "hale build --engine native --push 127.0.0.1:5000/o:1",
        "hale deploy --render --check",
        "hale deploy --context prod",
    ] {
        assert!(
            plan.lines().any(|l| l.trim() == line),
            "make -n lacks {line:?}:\n{plan}"
        );
    }
    // A database folder for a machine without network.
    let out = make(&["-n", "vulncheck", "GOVULNDB=file:///srv/vulndb"]);
    assert_success(&out, "make -n vulncheck");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "govulncheck -db file:///srv/vulndb ./..."
    );
    // One target for real: the manifests are rendered and pass the check.
    let out = make(&["manifests"]);
    assert_success(&out, "make manifests");
    assert!(dir.join("deploy/base/deployment.yaml").is_file());
}

/// The release of the hale under test, packaged by `scripts/release.sh --binary` into
/// `TMP/release` and served over HTTP on a free loopback port, as a release folder would be
/// (`HALE_RELEASE_URL`). Returns its URL.
fn serve_release(tmp: &Path) -> String {
    let dir = tmp.join("release");
    assert_success(&package_release(&dir), "scripts/release.sh --binary");
    format!("http://{}", file_server(dir))
}

/// An HTTP/1.1 server on a free loopback port answering GET with the files of `root` (404 for
/// anything else), one request per connection; it lives as long as the test process.
fn file_server(root: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut writer = conn.try_clone().unwrap();
                let mut reader = BufReader::new(conn);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let path = request.split(' ').nth(1).unwrap_or("/");
                let name = path.trim_start_matches('/');
                let file = (!name.is_empty() && !name.contains(['/', '\\']) && name != "..")
                    .then(|| std::fs::read(root.join(name)).ok())
                    .flatten();
                let _ = match file {
                    Some(body) if request.starts_with("GET ") => writer
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| writer.write_all(&body)),
                    _ => writer.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            });
        }
    });
    addr
}

/// `scripts/release.sh --binary` packaging the hale under test, as a release build would be
/// packaged, into `out`.
fn package_release(out: &Path) -> std::process::Output {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release.sh"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_hale"),
            "--target",
            "x86_64-unknown-linux-musl",
            "--out",
        ])
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap()
}

#[test]
fn install_sh_installs_a_verified_release_archive_and_refuses_a_tampered_one() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the release archive of this test is labelled for x86_64");
        return;
    }
    let tmp = common::tempdir();
    let dist = tmp.path().join("dist");
    assert_success(&package_release(&dist), "scripts/release.sh --binary");
    let name = format!(
        "hale-{}-x86_64-unknown-linux-musl.tar.gz",
        env!("CARGO_PKG_VERSION")
    );
    let archive = dist.join(&name);
    for f in [name.clone(), format!("{name}.sha256"), "SHA256SUMS".into()] {
        assert!(dist.join(&f).is_file(), "release.sh did not write {f}");
    }
    // The packaging is reproducible: the same binary and epoch give the same archive bytes.
    let again = tmp.path().join("dist-again");
    assert_success(
        &package_release(&again),
        "scripts/release.sh --binary, again",
    );
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(again.join(&name)).unwrap()
    );

    let install = |from: &Path, root: &Path| {
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("install.sh"))
            .arg("--from")
            .arg(from)
            .env("HALE_INSTALL_ROOT", root)
            .env("HALE_NO_COMPLETION", "1")
            .output()
            .unwrap()
    };
    for (from, root) in [(&dist, "root-dir"), (&archive, "root-file")] {
        let root = tmp.path().join(root);
        let out = install(from, &root);
        assert_success(&out, "install.sh --from");
        assert!(String::from_utf8_lossy(&out.stderr).contains("checksum verified"));
        let version = Command::new(root.join("bin/hale"))
            .arg("--version")
            .output()
            .unwrap();
        assert_success(&version, "the installed hale --version");
        assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    }

    // One changed byte: refused, nothing installed.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, &bytes).unwrap();
    let root = tmp.path().join("root-tampered");
    let out = install(&archive, &root);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!root.join("bin/hale").exists());
    // No checksum at all: refused too.
    std::fs::remove_file(dist.join(format!("{name}.sha256"))).unwrap();
    std::fs::remove_file(dist.join("SHA256SUMS")).unwrap();
    let out = install(&archive, &root);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checksum"));
    // A --from that does not exist is the user's mistake.
    let out = install(&tmp.path().join("nowhere"), &root);
    assert_eq!(out.status.code(), Some(2));
    assert!(!root.join("bin/hale").exists());
}

#[test]
fn the_release_sbom_is_valid_spdx() {
    let pyspdxtools = need!(Pyspdxtools);
    let tmp = common::tempdir();
    let dist = tmp.path().join("dist");
    assert_success(&package_release(&dist), "scripts/release.sh --binary");
    let sbom = dist.join(format!(
        "hale-{}-x86_64-unknown-linux-musl.spdx.json",
        env!("CARGO_PKG_VERSION")
    ));
    let out = Command::new(&pyspdxtools)
        .arg("-i")
        .arg(&sbom)
        .output()
        .unwrap();
    assert_success(&out, "pyspdxtools -i");
    let doc: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for crate_name in ["hale", "tokio", "clap", "kube"] {
        assert!(names.contains(&crate_name), "the SBOM lacks {crate_name}");
    }
    assert!(
        !names.contains(&"insta"),
        "a dev-dependency is not in the binary"
    );
}
