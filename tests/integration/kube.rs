//! `hale deploy` against the real control plane scripts/kube-env.sh starts (kube-apiserver,
//! controller manager, scheduler, kwok's fake nodes and pods), checked through the API
//! server's own view: resourceVersions, generations, ReplicaSets, replica counts.
//!
//! Each test works in a namespace of its own (deleted when the test ends). The objects these
//! tests build run their pods on kwok's fake nodes (a toleration of their taint and the
//! nodeSelector `type=kwok`): they become Ready without pulling any image; a pod labelled
//! `hale.test/crash-loop=true` crash-loops instead (the tests' own kwok stage, see
//! scripts/kube-env.sh). Pods that really run, on the real node, are `kube_node`'s.
use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ::kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use ::kube::Client;
use hale::commands::deploy_kube::{self, ApplyArgs, DeleteArgs, StatusArgs, TargetArgs};
use hale::commands::deploy_status;
use hale::exit::{classify, Exit};
use hale::kube::apply::{ApplyOptions, Change};
use hale::kube::rollout::{rollout_state, RolloutOutcome, RolloutState};
use hale::kube::{self as k8s, Cluster, Target};
use hale::output::{ColorChoice, OutputFormat, Printer};
use hale::progress::Progress;
use hale::stop::Stop;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};

/// Held by the tests that depend on whether the Prometheus operator's CRDs are installed: the
/// monitoring test removes and reinstalls them cluster-wide.
pub(crate) static CRDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Long enough for a busy machine; a rollout on kwok takes about a second.
const ROLLOUT: Duration = Duration::from_secs(240);

/// A namespace of the test's own, deleted (without waiting) when the test ends.
struct Namespace {
    name: String,
    kubeconfig: PathBuf,
}

impl Namespace {
    fn new(kubeconfig: &str, tag: &str) -> Namespace {
        Namespace {
            name: format!("hale-{}-{tag}", std::process::id()),
            kubeconfig: PathBuf::from(kubeconfig),
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Ok(kubectl) = std::env::var("HALE_TEST_KUBECTL") {
            let _ = std::process::Command::new(kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["delete", "namespace", &self.name, "--wait=false"])
                .arg("--ignore-not-found")
                .output();
        }
    }
}

fn target(kubeconfig: &str, ns: &str) -> TargetArgs {
    TargetArgs {
        kubeconfig: Some(PathBuf::from(kubeconfig)),
        context: None,
        namespace: Some(ns.to_string()),
    }
}

async fn cluster(kubeconfig: &str, ns: &str) -> Cluster {
    k8s::connect(&Target {
        kubeconfig: Some(PathBuf::from(kubeconfig)),
        context: None,
        namespace: Some(ns.to_string()),
    })
    .await
    .unwrap()
}

fn object(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

fn labels(svc: &str) -> Value {
    json!({"app.kubernetes.io/name": svc, "app.kubernetes.io/managed-by": "hale"})
}

/// How the test's Deployment differs between applies.
#[derive(Clone)]
struct Shape {
    image: &'static str,
    crash_loop: bool,
    progress_deadline: Option<i32>,
    config: &'static str,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            image: "hale-test/orders:1",
            crash_loop: false,
            progress_deadline: None,
            config: "a",
        }
    }
}

/// What the renderer would give for a service: Namespace, ServiceAccount, ConfigMap,
/// Deployment (3 replicas), Service — shuffled, so the apply has to order them.
fn service_objects(svc: &str, ns: &str, shape: &Shape) -> Vec<DynamicObject> {
    let mut pod_labels = labels(svc);
    if shape.crash_loop {
        pod_labels["hale.test/crash-loop"] = json!("true");
    }
    let mut spec = json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app.kubernetes.io/name": svc}},
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "serviceAccountName": svc,
                // Fake pods: on kwok's tainted nodes, never on the real node (no image to pull).
                "nodeSelector": {"type": "kwok"},
                "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Equal",
                                 "value": "fake", "effect": "NoSchedule"}],
                "containers": [{"name": svc, "image": shape.image,
                                "ports": [{"name": "http", "containerPort": 8080}]}]
            }
        }
    });
    if let Some(d) = shape.progress_deadline {
        spec["progressDeadlineSeconds"] = json!(d);
    }
    vec![
        object(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc, "labels": labels(svc)},
            "spec": {"selector": {"app.kubernetes.io/name": svc},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})),
        object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": svc, "labels": labels(svc)}, "spec": spec})),
        object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": svc, "labels": labels(svc)}, "data": {"mode": shape.config}})),
        object(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": svc, "labels": labels(svc)}})),
        object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
    ]
}

fn config_map(name: &str, labels: Value) -> DynamicObject {
    object(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}))
}

fn options(svc: &str) -> ApplyOptions {
    ApplyOptions {
        service: svc.to_string(),
        ..ApplyOptions::default()
    }
}

/// A printer that prints results only (the tests read the API server's view instead).
fn quiet() -> Printer {
    Printer::new(OutputFormat::Text, true, 0, ColorChoice::Never)
}

/// Apply through the library and wait for the Deployment's rollout.
async fn deploy(c: &Cluster, objects: Vec<DynamicObject>, opts: &ApplyOptions) -> RolloutOutcome {
    let report = k8s::apply::apply(c, objects, opts, &Progress::hidden())
        .await
        .unwrap();
    let d = &report.deployments[0];
    k8s::rollout::wait(
        c,
        &d.namespace,
        &d.name,
        ROLLOUT,
        &Stop::new(),
        &Progress::hidden(),
    )
    .await
    .unwrap()
}

/// The resourceVersion of every object in the namespace of the kinds the tests use.
async fn versions(client: &Client, ns: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    for o in cms.list(&ListParams::default()).await.unwrap() {
        out.push((
            format!("ConfigMap/{}", o.metadata.name.unwrap()),
            o.metadata.resource_version.unwrap(),
        ));
    }
    let ds: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for o in ds.list(&ListParams::default()).await.unwrap() {
        out.push((
            format!("Deployment/{}", o.metadata.name.unwrap()),
            o.metadata.resource_version.unwrap(),
        ));
    }
    out.sort();
    out
}

fn deployment_api(c: &Cluster) -> Api<Deployment> {
    Api::namespaced(c.client.clone(), &c.namespace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_is_reported_successful_only_once_every_replica_is_available() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "avail");
    let svc = "orders";
    let args = ApplyArgs {
        target: target(&kubeconfig, &ns.name),
        timeout: ROLLOUT,
        ..ApplyArgs::default()
    };
    deploy_kube::apply(
        &args,
        svc,
        service_objects(svc, &ns.name, &Shape::default()),
        None,
        &quiet(),
        &Stop::new(),
    )
    .await
    .unwrap();
    // The moment hale said so, the API server agrees: observed, updated, all available.
    let c = cluster(&kubeconfig, &ns.name).await;
    let d = deployment_api(&c).get(svc).await.unwrap();
    let status = d.status.clone().unwrap();
    assert_eq!(status.observed_generation, d.metadata.generation);
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(rollout_state(&d), RolloutState::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_is_a_second_rollout_and_hale_waits_for_that_one() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "image");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    let first = deploy(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc),
    )
    .await;
    assert!(first.is_complete(), "{first:?}");
    // Right after this apply the status still describes the first, complete rollout.
    let opts = ApplyOptions {
        image: Some("hale-test/orders:2".into()),
        ..options(svc)
    };
    let second = deploy(&c, service_objects(svc, &ns.name, &Shape::default()), &opts).await;
    assert!(second.is_complete(), "{second:?}");
    let d = deployment_api(&c).get(svc).await.unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(d.status.as_ref().unwrap().observed_generation, Some(2));
    assert_eq!(
        d.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    // The ReplicaSet of the new image carries every available replica, the old one none.
    let sets: Api<ReplicaSet> = Api::namespaced(c.client.clone(), &ns.name);
    for rs in sets.list(&ListParams::default()).await.unwrap() {
        let spec = rs.spec.unwrap();
        let image = spec.template.unwrap().spec.unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        let status = rs.status.unwrap();
        if image == "hale-test/orders:2" {
            assert_eq!(status.available_replicas, Some(3), "new ReplicaSet");
        } else {
            assert_eq!(spec.replicas, Some(0), "old ReplicaSet scaled down");
        }
    }
}

/// Deploy revision 1, then a crash-looping revision 2 with a short progress deadline.
async fn crash_loop(kubeconfig: &str, tag: &str, rollback: bool) -> (Namespace, anyhow::Error) {
    let ns = Namespace::new(kubeconfig, tag);
    let svc = "orders";
    let c = cluster(kubeconfig, &ns.name).await;
    let first = deploy(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc),
    )
    .await;
    assert!(first.is_complete(), "{first:?}");
    let broken = Shape {
        image: "hale-test/orders:broken",
        crash_loop: true,
        progress_deadline: Some(10),
        ..Shape::default()
    };
    let args = ApplyArgs {
        target: target(kubeconfig, &ns.name),
        timeout: ROLLOUT,
        rollback_on_failure: rollback,
        ..ApplyArgs::default()
    };
    let err = deploy_kube::apply(
        &args,
        svc,
        service_objects(svc, &ns.name, &broken),
        None,
        &quiet(),
        &Stop::new(),
    )
    .await
    .unwrap_err();
    (ns, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_rollout_fails_on_its_deadline_with_the_reason() {
    let kubeconfig = need!(Kube);
    let (ns, err) = crash_loop(&kubeconfig, "crash", false).await;
    assert_eq!(classify(&err), Exit::Failed, "{err:#}");
    let text = format!("{err:#}");
    assert!(text.contains("exceeded its progress deadline"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    // What hale printed as the diagnosis: the crash-looping pod and its reason.
    let c = cluster(&kubeconfig, &ns.name).await;
    let diagnosis = k8s::diagnose::diagnose(&c, &ns.name, "orders")
        .await
        .unwrap();
    let lines = diagnosis.lines().join("\n");
    assert!(lines.contains("waiting: CrashLoopBackOff"), "{lines}");
    assert!(
        lines.contains("last run terminated: Error (exit 1)"),
        "{lines}"
    );
    assert!(lines.contains("recent events:"), "{lines}");
    // Nothing was rolled back: the broken template stays.
    let d = deployment_api(&c).get("orders").await.unwrap();
    let image = d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("hale-test/orders:broken"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_failure_brings_the_previous_revision_back_available() {
    let kubeconfig = need!(Kube);
    let (ns, err) = crash_loop(&kubeconfig, "rollback", true).await;
    assert_eq!(classify(&err), Exit::Failed, "{err:#}");
    let text = format!("{err:#}");
    assert!(text.contains("exceeded its progress deadline"), "{text}");
    assert!(
        text.contains("rolled back to revision 1 (available again)"),
        "{text}"
    );
    let c = cluster(&kubeconfig, &ns.name).await;
    let d = deployment_api(&c).get("orders").await.unwrap();
    assert_eq!(rollout_state(&d), RolloutState::Complete);
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(3));
    let template = d.spec.unwrap().template;
    assert_eq!(
        template.spec.unwrap().containers[0].image.as_deref(),
        Some("hale-test/orders:1")
    );
    let pod_labels = template.metadata.unwrap().labels.unwrap();
    assert!(!pod_labels.contains_key("hale.test/crash-loop"));
    assert!(!pod_labels.contains_key("pod-template-hash"));
    // kubectl numbers the restored template as a new revision, as `rollout undo` does.
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dry_run_shows_the_diff_and_changes_nothing() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "dryrun");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    assert!(deploy(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc)
    )
    .await
    .is_complete());
    let before = versions(&c.client, &ns.name).await;
    let mut objects = service_objects(svc, &ns.name, &Shape::default());
    objects.push(config_map("orders-extra", labels(svc)));
    let opts = ApplyOptions {
        dry_run: true,
        image: Some("hale-test/orders:2".into()),
        ..options(svc)
    };
    let report = k8s::apply::apply(&c, objects, &opts, &Progress::hidden())
        .await
        .unwrap();
    let deployment = report
        .objects
        .iter()
        .find(|o| o.kind == "Deployment")
        .unwrap();
    assert_eq!(deployment.change, Change::Configured);
    let diff = deployment.diff.as_deref().unwrap();
    let changed = |sign: char, text: &str| {
        diff.lines()
            .any(|l| l.starts_with(sign) && l.contains(text))
    };
    assert!(changed('-', "image: hale-test/orders:1"), "{diff}");
    assert!(changed('+', "image: hale-test/orders:2"), "{diff}");
    let extra = report
        .objects
        .iter()
        .find(|o| o.name == "orders-extra")
        .unwrap();
    assert_eq!(extra.change, Change::Created);
    let cm = report
        .objects
        .iter()
        .find(|o| o.kind == "ConfigMap" && o.name == svc)
        .unwrap();
    assert_eq!(cm.change, Change::Unchanged);
    assert_eq!(versions(&c.client, &ns.name).await, before);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns.name);
    assert!(cms.get_opt("orders-extra").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_a_dropped_object_and_nothing_else() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "prune");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    let mut objects = service_objects(svc, &ns.name, &Shape::default());
    objects.push(config_map("orders-extra", labels(svc)));
    assert!(deploy(&c, objects, &options(svc)).await.is_complete());
    // Same kind, same namespace: one without hale's labels, one of another service.
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns.name);
    for (name, labels) in [("unlabelled", json!({})), ("billing", labels("billing"))] {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}))
        .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let opts = ApplyOptions {
        prune: true,
        ..options(svc)
    };
    let report = k8s::apply::apply(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &opts,
        &Progress::hidden(),
    )
    .await
    .unwrap();
    let pruned: Vec<String> = report
        .objects
        .iter()
        .filter(|o| o.change == Change::Pruned)
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    assert_eq!(pruned, ["ConfigMap/orders-extra"]);
    assert!(cms.get_opt("orders-extra").await.unwrap().is_none());
    for kept in ["unlabelled", "billing", "orders"] {
        assert!(cms.get_opt(kept).await.unwrap().is_some(), "{kept} kept");
    }
    assert!(deployment_api(&c).get_opt(svc).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_applying_the_same_objects_changes_nothing() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "noop");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    assert!(deploy(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc)
    )
    .await
    .is_complete());
    let before = versions(&c.client, &ns.name).await;
    let generation = deployment_api(&c)
        .get(svc)
        .await
        .unwrap()
        .metadata
        .generation;
    let report = k8s::apply::apply(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc),
        &Progress::hidden(),
    )
    .await
    .unwrap();
    for o in &report.objects {
        assert_eq!(o.change, Change::Unchanged, "{}/{}", o.kind, o.name);
    }
    assert_eq!(report.objects.len(), 5);
    assert_eq!(versions(&c.client, &ns.name).await, before);
    assert_eq!(
        deployment_api(&c)
            .get(svc)
            .await
            .unwrap()
            .metadata
            .generation,
        generation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_of_another_manager_are_not_taken_without_force_conflicts() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "conflict");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    assert!(deploy(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &options(svc)
    )
    .await
    .is_complete());
    // Someone else takes the ConfigMap's `mode` over with their own server-side apply.
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns.name);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": svc}, "data": {"mode": "b"}});
    cms.patch(
        svc,
        &PatchParams::apply("ops-console").force(),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();
    let shape = Shape {
        config: "c",
        ..Shape::default()
    };
    let args = ApplyArgs {
        target: target(&kubeconfig, &ns.name),
        timeout: ROLLOUT,
        ..ApplyArgs::default()
    };
    let err = deploy_kube::apply(
        &args,
        svc,
        service_objects(svc, &ns.name, &shape),
        None,
        &quiet(),
        &Stop::new(),
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Failed, "{text}");
    assert!(text.contains("ConfigMap/orders"), "{text}");
    assert!(text.contains("ops-console"), "{text}");
    assert!(text.contains("--force-conflicts"), "{text}");
    assert_eq!(
        cms.get(svc).await.unwrap().data.unwrap()["mode"],
        "b",
        "not taken over"
    );
    let forced = ApplyArgs {
        force_conflicts: true,
        ..args
    };
    deploy_kube::apply(
        &forced,
        svc,
        service_objects(svc, &ns.name, &shape),
        None,
        &quiet(),
        &Stop::new(),
    )
    .await
    .unwrap();
    assert_eq!(cms.get(svc).await.unwrap().data.unwrap()["mode"], "c");
}

fn read_crds(dir: &Path) -> Vec<DynamicObject> {
    ["servicemonitors", "prometheusrules"]
        .iter()
        .map(|kind| {
            let path = dir.join(format!("monitoring.coreos.com_{kind}.yaml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_norway::from_str(&text).unwrap();
            object(value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_objects_are_applied_only_when_their_crds_are_installed() {
    let _crds = CRDS.lock().await;
    let kubeconfig = need!(Kube);
    let crds_dir = need!(PrometheusCrds);
    let ns = Namespace::new(&kubeconfig, "monitoring");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    let crds = read_crds(Path::new(&crds_dir));
    // Start without the operator's CRDs (a previous run may have left them).
    let crd_api: Api<DynamicObject> = Api::all_with(
        c.client.clone(),
        &::kube::core::ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&()),
    );
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap();
        let _ = crd_api.delete(&name, &Default::default()).await;
        let deadline = std::time::Instant::now() + ROLLOUT;
        while crd_api.get_opt(&name).await.unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "CRD {name} not deleted"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let monitor = object(
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": svc, "labels": labels(svc)},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": svc}},
                 "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]}}),
    );
    let mut objects = service_objects(svc, &ns.name, &Shape::default());
    objects.push(monitor.clone());
    let report = k8s::apply::apply(&c, objects, &options(svc), &Progress::hidden())
        .await
        .unwrap();
    let skipped = report.objects.last().unwrap();
    assert_eq!(
        (skipped.kind.as_str(), skipped.change),
        ("ServiceMonitor", Change::Skipped)
    );
    assert!(
        skipped
            .note
            .as_deref()
            .unwrap()
            .contains("CRDs are not installed"),
        "{:?}",
        skipped.note
    );

    // Install them (as a cluster admin would) and wait until they are served.
    k8s::apply::apply(&c, crds.clone(), &options("crds"), &Progress::hidden())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + ROLLOUT;
    let gvk = ::kube::core::GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor");
    while ::kube::discovery::pinned_kind(&c.client, &gvk)
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ServiceMonitor never served"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut objects = service_objects(svc, &ns.name, &Shape::default());
    objects.push(monitor);
    let report = k8s::apply::apply(&c, objects, &options(svc), &Progress::hidden())
        .await
        .unwrap();
    let applied = report.objects.last().unwrap();
    assert_eq!(
        (applied.kind.as_str(), applied.change),
        ("ServiceMonitor", Change::Created)
    );
    let served = k8s::Kinds::default().find(&c, &gvk).await.unwrap().unwrap();
    let monitors: Api<DynamicObject> =
        Api::namespaced_with(c.client.clone(), &ns.name, &served.resource);
    assert!(monitors.get_opt(svc).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_rollout_and_delete_removes_only_hales_objects() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "status");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    let mut objects = service_objects(svc, &ns.name, &Shape::default());
    objects.push(config_map("billing", labels("billing")));
    assert!(deploy(&c, objects, &options(svc)).await.is_complete());
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &ns.name);
    let unlabelled: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "unlabelled"}})).unwrap();
    cms.create(&PostParams::default(), &unlabelled)
        .await
        .unwrap();

    let status = k8s::inventory::status(&c, svc).await.unwrap();
    assert_eq!(status.deployments.len(), 1);
    let d = &status.deployments[0];
    assert_eq!(d.state, "complete", "{d:?}");
    assert_eq!((d.replicas.available, d.replicas.desired), (3, 3));
    assert_eq!(d.images, ["hale-test/orders:1"]);
    let mut names: Vec<String> = status
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ConfigMap/orders",
            "Deployment/orders",
            "Service/orders",
            "ServiceAccount/orders"
        ]
    );
    assert!(!status.events.is_empty(), "the rollout's events");
    // The command's own path as well (JSON document on stdout).
    deploy_status::once(
        &StatusArgs {
            target: target(&kubeconfig, &ns.name),
        },
        svc,
        &quiet(),
    )
    .await
    .unwrap();

    let deleted = k8s::inventory::delete(&c, svc).await.unwrap();
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    assert!(cms.get_opt("orders").await.unwrap().is_none());
    assert!(cms.get_opt("unlabelled").await.unwrap().is_some());
    assert!(cms.get_opt("billing").await.unwrap().is_some());
    assert!(k8s::inventory::objects(&c, svc).await.unwrap().is_empty());
    // Deleting again finds nothing and succeeds.
    deploy_kube::delete(
        &DeleteArgs {
            target: target(&kubeconfig, &ns.name),
        },
        svc,
        &quiet(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_server_is_one_clear_line() {
    let kubeconfig = need!(Kube);
    let _ = kubeconfig;
    let dir = common::tempdir();
    let port = common::free_port();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: \
             https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  \
             user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    \
             user: u\ncurrent-context: gone\n"
        ),
    )
    .unwrap();
    let args = StatusArgs {
        target: TargetArgs {
            kubeconfig: Some(path),
            ..TargetArgs::default()
        },
    };
    let err = deploy_status::once(&args, "orders", &quiet())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Failed, "{text}");
    assert!(
        text.contains(&format!(
            "cannot reach the API server at https://127.0.0.1:{port}"
        )),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_context_is_a_usage_error_naming_the_contexts() {
    let kubeconfig = need!(Kube);
    let args = StatusArgs {
        target: TargetArgs {
            kubeconfig: Some(PathBuf::from(&kubeconfig)),
            context: Some("prod".into()),
            namespace: None,
        },
    };
    let err = deploy_status::once(&args, "orders", &quiet())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Usage, "{text}");
    assert!(
        text.contains("context \"prod\" is not in the kubeconfig"),
        "{text}"
    );
    assert!(
        text.contains("hale-test"),
        "names the contexts it has: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_rights_gets_the_rbac_refusal_and_nothing_is_applied() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "rbac");
    let svc = "orders";
    let args = ApplyArgs {
        target: TargetArgs {
            kubeconfig: Some(PathBuf::from(&kubeconfig)),
            // scripts/kube-env.sh's user with no role bindings at all.
            context: Some("hale-test-nobody".into()),
            namespace: Some(ns.name.clone()),
        },
        ..ApplyArgs::default()
    };
    let err = deploy_kube::apply(
        &args,
        svc,
        service_objects(svc, &ns.name, &Shape::default()),
        None,
        &quiet(),
        &Stop::new(),
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Failed, "{text}");
    assert!(
        text.contains("forbidden by the API server (RBAC)"),
        "{text}"
    );
    assert!(text.contains("hale-test-nobody"), "names the user: {text}");
    let admin = cluster(&kubeconfig, &ns.name).await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.client.clone());
    assert!(namespaces.get_opt(&ns.name).await.unwrap().is_none());
}

/// An autoscaled Deployment (no `replicas`, an HPA) for the service's objects.
fn autoscaled(svc: &str, ns: &str, min: i64) -> Vec<DynamicObject> {
    let mut objects = service_objects(svc, ns, &Shape::default());
    for o in &mut objects {
        if o.types.as_ref().is_some_and(|t| t.kind == "Deployment") {
            o.data["spec"].as_object_mut().unwrap().remove("replicas");
        }
    }
    objects.push(object(
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": svc, "labels": labels(svc)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc},
                 "minReplicas": min, "maxReplicas": 10}}),
    ));
    objects
}

/// Deploy bug 2: the first apply of an autoscaled Deployment starts at the HPA's minimum (not
/// at 1 until the HPA acts), and a later apply leaves the count alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoscaled_deployment_starts_at_the_hpa_minimum_and_keeps_its_count() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "hpamin");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    assert!(deploy(&c, autoscaled(svc, &ns.name, 3), &options(svc))
        .await
        .is_complete());
    let d = deployment_api(&c).get(svc).await.unwrap();
    assert_eq!(
        d.spec.as_ref().unwrap().replicas,
        Some(3),
        "starts at minReplicas"
    );
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(3));

    // What the HPA does when it scales: an update of the scale subresource, by its manager.
    let scale = json!({"spec": {"replicas": 5}});
    deployment_api(&c)
        .patch_scale(
            svc,
            &PatchParams {
                field_manager: Some("kube-controller-manager".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&scale),
        )
        .await
        .unwrap();
    assert!(deploy(&c, autoscaled(svc, &ns.name, 3), &options(svc))
        .await
        .is_complete());
    let d = deployment_api(&c).get(svc).await.unwrap();
    assert_eq!(
        d.spec.unwrap().replicas,
        Some(5),
        "a re-apply keeps the HPA's count"
    );
}

/// Deploy bug 3: a namespace that does not exist is one line naming it and the flag that
/// creates it, exit 1 — not the API error's debug form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_namespace_is_one_line_naming_create_namespace() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "nons");
    let svc = "orders";
    let objects: Vec<DynamicObject> = service_objects(svc, &ns.name, &Shape::default())
        .into_iter()
        .filter(|o| o.types.as_ref().is_some_and(|t| t.kind != "Namespace"))
        .collect();
    let args = ApplyArgs {
        target: target(&kubeconfig, &ns.name),
        timeout: ROLLOUT,
        ..ApplyArgs::default()
    };
    let err = deploy_kube::apply(&args, svc, objects, None, &quiet(), &Stop::new())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert_eq!(classify(&err), Exit::Failed, "{text}");
    assert_eq!(
        text,
        format!(
            "namespace {:?} does not exist: create it with --create-namespace, or pick another \
             with --namespace",
            ns.name
        )
    );
}

/// Deploy bug 4: a dry run of a first deploy (its namespace not there yet) says what would be
/// created, and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_first_deploy_says_what_would_be_created() {
    let kubeconfig = need!(Kube);
    let ns = Namespace::new(&kubeconfig, "firstdry");
    let svc = "orders";
    let c = cluster(&kubeconfig, &ns.name).await;
    let opts = ApplyOptions {
        dry_run: true,
        ..options(svc)
    };
    let report = k8s::apply::apply(
        &c,
        service_objects(svc, &ns.name, &Shape::default()),
        &opts,
        &Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.objects.len(), 5, "{:?}", report.objects);
    assert!(report.objects.iter().all(|o| o.change == Change::Created));
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    assert!(namespaces.get_opt(&ns.name).await.unwrap().is_none());
}
