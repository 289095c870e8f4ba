//! Server-side apply of a service's objects: validated and resolved before anything is
//! written, applied in dependency order with field manager `hale`, monitoring objects only when
//! the Prometheus operator's CRDs exist, `--dry-run=server` as a diff, `--prune` by hale's labels.
use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::Value;

use super::{
    describe, gvk_of, service_selector, Cluster, Kinds, KubeError, ServedKind, FIELD_MANAGER,
    MONITORING_GROUP, SERVICE_KINDS,
};
use crate::progress::Progress;

/// What to apply and how.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// The service the objects belong to: `--prune` looks for hale's labels with this name.
    pub service: String,
    /// Take over fields another field manager owns (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Ask the API server what would change, show it, change nothing (`--dry-run=server`).
    pub dry_run: bool,
    /// Delete objects with hale's labels for this service that are no longer rendered.
    pub prune: bool,
    /// Replace the image of each Deployment's service container (`--image`).
    pub image: Option<String>,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Created,
    Configured,
    Unchanged,
    Pruned,
    /// Not applied: its kind is not served (the monitoring CRDs are not installed).
    Skipped,
}

impl Change {
    /// The word for a line of the report; a dry run says what would happen.
    pub fn verb(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Change::Created, false) => "created",
            (Change::Created, true) => "would be created",
            (Change::Configured, false) => "configured",
            (Change::Configured, true) => "would be configured",
            (Change::Unchanged, _) => "unchanged",
            (Change::Pruned, false) => "pruned",
            (Change::Pruned, true) => "would be pruned",
            (Change::Skipped, _) => "skipped",
        }
    }
}

/// One object of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub change: Change,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Under `--dry-run=server`: a unified diff of the live object against what the server
    /// would store (YAML, server-managed fields left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// A Deployment that was applied: what the rollout wait needs.
#[derive(Debug, Clone)]
pub struct AppliedDeployment {
    pub name: String,
    pub namespace: String,
    /// The object as hale applied it (after `--image`), for a rollback to re-apply.
    pub applied: DynamicObject,
    /// Whether its pod template changed (a rollout started) or it is unchanged.
    pub change: Change,
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    pub objects: Vec<ObjectChange>,
    pub deployments: Vec<AppliedDeployment>,
}

/// The apply order: what others depend on first.
fn rank(group: &str, kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" => 1,
        "ConfigMap" | "Secret" => 2,
        "Deployment" => 3,
        "Service" => 4,
        "PodDisruptionBudget" => 5,
        "HorizontalPodAutoscaler" => 6,
        _ if group == MONITORING_GROUP => 8,
        _ => 7,
    }
}

struct Planned {
    object: DynamicObject,
    kind: Option<ServedKind>,
    group: String,
    namespace: Option<String>,
    /// For a Deployment an HPA scales (and which leaves `replicas` out): the HPA's minimum.
    hpa_minimum: Option<i64>,
}

/// `(namespace, deployment) → minReplicas` of the HPAs in the plan that scale a Deployment.
fn hpa_minimums(plan: &[Planned]) -> Vec<((Option<String>, String), i64)> {
    plan.iter()
        .filter(|p| kind_name(&p.object) == "HorizontalPodAutoscaler")
        .filter_map(|p| {
            let target = p.object.data.pointer("/spec/scaleTargetRef")?;
            if target.get("kind")?.as_str()? != "Deployment" {
                return None;
            }
            let name = target.get("name")?.as_str()?.to_string();
            let min = p
                .object
                .data
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            Some(((p.namespace.clone(), name), min))
        })
        .collect()
}

/// Whether hale's field manager owns `spec.replicas` of the live object (by an apply).
fn hale_owns_replicas(live: &DynamicObject) -> bool {
    live.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(FIELD_MANAGER))
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .filter_map(|m| m.fields_v1.as_ref())
        .any(|f| f.0.pointer("/f:spec/f:replicas").is_some())
}

/// `replicas` for a Deployment an HPA scales. The rendered object leaves it out (the HPA owns
/// the count), but a Deployment created without it starts at 1 until the HPA acts. So the
/// first apply sets the HPA's minimum; later applies keep the live count while hale still owns
/// the field (dropping it would reset the count to 1), and leave it out once the HPA has taken
/// it over (its scale updates take the field from hale).
fn replicas_for_hpa(minimum: i64, live: Option<&DynamicObject>) -> Option<i64> {
    match live {
        None => Some(minimum),
        Some(live) if hale_owns_replicas(live) => Some(
            live.data
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(minimum),
        ),
        Some(_) => None,
    }
}

/// Apply `objects` to the cluster. Every object is checked and its kind resolved before the
/// first write, so bad input changes nothing.
pub async fn apply(
    cluster: &Cluster,
    objects: Vec<DynamicObject>,
    options: &ApplyOptions,
    progress: &Progress,
) -> Result<ApplyReport, KubeError> {
    let mut kinds = Kinds::default();
    let mut plan = Vec::with_capacity(objects.len());
    for mut object in objects {
        let gvk = gvk_of(&object)?;
        if object.metadata.name.as_deref().unwrap_or("").is_empty() {
            return Err(KubeError::BadObject {
                object: describe(&object),
                reason: "has no metadata.name".into(),
            });
        }
        let served = kinds.find(cluster, &gvk).await?;
        if served.is_none() && gvk.group != MONITORING_GROUP {
            return Err(KubeError::UnknownKind {
                object: describe(&object),
                api_version: gvk.api_version(),
                kind: gvk.kind.clone(),
            });
        }
        let namespace = match &served {
            Some(s) if s.namespaced => Some(place(cluster, &mut object)?),
            Some(_) => {
                object.metadata.namespace = None;
                None
            }
            None => object
                .metadata
                .namespace
                .clone()
                .or_else(|| Some(cluster.namespace.clone())),
        };
        if gvk.kind == "Deployment" {
            if let Some(image) = &options.image {
                set_image(&mut object, image, &options.service)?;
            }
        }
        plan.push(Planned {
            object,
            kind: served,
            group: gvk.group,
            namespace,
            hpa_minimum: None,
        });
    }
    plan.sort_by_key(|p| rank(&p.group, &kind_name(&p.object)));
    let hpa_minimums = hpa_minimums(&plan);
    for p in &mut plan {
        if kind_name(&p.object) == "Deployment" && p.object.data.pointer("/spec/replicas").is_none()
        {
            let name = p.object.metadata.name.clone().unwrap_or_default();
            p.hpa_minimum = hpa_minimums
                .iter()
                .find(|(key, _)| key.0 == p.namespace && key.1 == name)
                .map(|(_, min)| *min);
        }
    }

    let mut namespaces: BTreeSet<String> =
        plan.iter().filter_map(|p| p.namespace.clone()).collect();
    namespaces.insert(cluster.namespace.clone());
    let mut report = ApplyReport::default();
    let mut rendered: BTreeSet<(String, String, String)> = BTreeSet::new();
    // One transient task line while applying; the report lists each object once, at the end.
    progress.start("apply", "Applying", None);
    let mut namespaces_created = BTreeSet::new();
    let total = plan.len();
    for p in plan {
        let kind = kind_name(&p.object);
        let name = p.object.metadata.name.clone().unwrap_or_default();
        rendered.insert((p.group.clone(), kind.clone(), name.clone()));
        let Some(served) = &p.kind else {
            let note = format!(
                "{} is not served here (the Prometheus operator's CRDs are not installed)",
                p.object
                    .types
                    .as_ref()
                    .map(|t| format!("{} {}", t.api_version, t.kind))
                    .unwrap_or_default()
            );
            report.objects.push(ObjectChange {
                kind,
                name,
                namespace: p.namespace,
                change: Change::Skipped,
                note: Some(note),
                diff: None,
            });
            continue;
        };
        progress.message("apply", format!("{kind}/{name}"));
        let (change, diff, applied, note) = match apply_one(cluster, served, &p, options).await {
            Ok((change, diff, applied)) => (change, diff, applied, None),
            // A dry run creates no namespace, so the server cannot check what would go into
            // one this run would create: say so rather than fail a first deploy's dry run.
            Err(KubeError::NoNamespace { namespace })
                if options.dry_run && namespaces_created.contains(&namespace) =>
            {
                let note = format!(
                    "not checked by the API server: namespace {namespace} would be created first"
                );
                (Change::Created, None, p.object.clone(), Some(note))
            }
            Err(e) => return Err(e),
        };
        if kind == "Namespace" && change == Change::Created {
            namespaces_created.insert(name.clone());
        }
        if kind == "Deployment" && p.group == "apps" {
            report.deployments.push(AppliedDeployment {
                name: name.clone(),
                namespace: p.namespace.clone().unwrap_or_default(),
                applied,
                change,
            });
        }
        report.objects.push(ObjectChange {
            kind,
            name,
            namespace: p.namespace,
            change,
            note,
            diff,
        });
    }
    if options.prune {
        progress.message("apply", "pruning");
        report
            .objects
            .extend(prune(cluster, &mut kinds, &namespaces, &rendered, options).await?);
    }
    progress.finish("apply", format!("{total} objects"));
    Ok(report)
}

fn kind_name(object: &DynamicObject) -> String {
    object
        .types
        .as_ref()
        .map(|t| t.kind.clone())
        .unwrap_or_default()
}

/// The namespace a namespaced object goes to: its own, or the target's. With an explicit
/// `--namespace`, an object naming another one is refused (kubectl does the same).
fn place(cluster: &Cluster, object: &mut DynamicObject) -> Result<String, KubeError> {
    match object.metadata.namespace.clone() {
        Some(ns) if !ns.is_empty() => {
            if cluster.namespace_explicit && ns != cluster.namespace {
                return Err(KubeError::BadObject {
                    object: describe(object),
                    reason: format!(
                        "is in namespace {ns:?} but --namespace is {:?}: drop one of them",
                        cluster.namespace
                    ),
                });
            }
            Ok(ns)
        }
        _ => {
            object.metadata.namespace = Some(cluster.namespace.clone());
            Ok(cluster.namespace.clone())
        }
    }
}

/// Point the service's container at `image`: the container named after the service, or the
/// only one.
fn set_image(object: &mut DynamicObject, image: &str, service: &str) -> Result<(), KubeError> {
    let what = describe(object);
    let containers = object
        .data
        .pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| KubeError::BadObject {
            object: what.clone(),
            reason: "has no spec.template.spec.containers to set --image on".into(),
        })?;
    let index = containers
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(service))
        .or(if containers.len() == 1 { Some(0) } else { None })
        .ok_or_else(|| KubeError::BadObject {
            object: what,
            reason: format!(
                "has several containers and none is named {service:?}: cannot tell which one \
                 --image is for"
            ),
        })?;
    containers[index]["image"] = Value::String(image.to_string());
    Ok(())
}

fn api_for(cluster: &Cluster, served: &ServedKind, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if served.namespaced => {
            Api::namespaced_with(cluster.client.clone(), ns, &served.resource)
        }
        _ => Api::all_with(cluster.client.clone(), &served.resource),
    }
}

async fn apply_one(
    cluster: &Cluster,
    served: &ServedKind,
    p: &Planned,
    options: &ApplyOptions,
) -> Result<(Change, Option<String>, DynamicObject), KubeError> {
    let what = describe(&p.object);
    let name = p.object.metadata.name.clone().unwrap_or_default();
    let api = api_for(cluster, served, p.namespace.as_deref());
    let live = api
        .get_opt(&name)
        .await
        .map_err(|e| cluster.error(what.clone(), e))?;
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = options.force_conflicts;
    params.dry_run = options.dry_run;
    let mut object = p.object.clone();
    if let Some(replicas) = p
        .hpa_minimum
        .and_then(|min| replicas_for_hpa(min, live.as_ref()))
    {
        object.data["spec"]["replicas"] = Value::from(replicas);
    }
    let stored = api
        .patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| cluster.error(what.clone(), e))?;
    // Unchanged when the server kept the resourceVersion, or when only what it maintains itself
    // moved: a dry run stores nothing (the resourceVersion stays put either way), and the API
    // server rewrites a Namespace on every apply without changing its content.
    let change = match &live {
        None => Change::Created,
        Some(live)
            if (!options.dry_run
                && live.metadata.resource_version == stored.metadata.resource_version)
                || comparable(live) == comparable(&stored) =>
        {
            Change::Unchanged
        }
        Some(_) => Change::Configured,
    };
    let diff = if options.dry_run && change != Change::Unchanged {
        Some(diff(&what, live.as_ref(), &stored))
    } else {
        None
    };
    Ok((change, diff, object))
}

/// An object without what the server maintains by itself, for diffs and comparisons.
fn comparable(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(key);
        }
    }
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
    }
    value
}

fn yaml(value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    serde_norway::to_string(value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// A unified diff, live against what the server would store.
fn diff(what: &str, live: Option<&DynamicObject>, stored: &DynamicObject) -> String {
    let before = live.map(comparable).map(|v| yaml(&v)).unwrap_or_default();
    let after = yaml(&comparable(stored));
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{what}"), &format!("applied/{what}"))
        .to_string()
}

/// Delete (or, in a dry run, list) every object with hale's labels for the service whose
/// kind and name were not just applied. Namespaces are never pruned.
async fn prune(
    cluster: &Cluster,
    kinds: &mut Kinds,
    namespaces: &BTreeSet<String>,
    rendered: &BTreeSet<(String, String, String)>,
    options: &ApplyOptions,
) -> Result<Vec<ObjectChange>, KubeError> {
    let selector = service_selector(&options.service);
    let mut pruned = Vec::new();
    for ((group, version, kind), namespace) in SERVICE_KINDS
        .iter()
        .flat_map(|k| namespaces.iter().map(move |ns| (k, ns)))
    {
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let Some(served) = kinds.find(cluster, &gvk).await? else {
            continue;
        };
        let api = api_for(cluster, &served, Some(namespace));
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list,
            // Its CRD went away since discovery.
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(cluster.error(format!("listing {kind} to prune"), e)),
        };
        for object in list.items {
            let name = object.metadata.name.clone().unwrap_or_default();
            if rendered.contains(&(group.to_string(), kind.to_string(), name.clone())) {
                continue;
            }
            if !options.dry_run {
                api.delete(&name, &DeleteParams::background())
                    .await
                    .map_err(|e| cluster.error(format!("{kind}/{name}"), e))?;
            }
            pruned.push(ObjectChange {
                kind: kind.to_string(),
                name,
                namespace: object.metadata.namespace.clone(),
                change: Change::Pruned,
                note: None,
                diff: None,
            });
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn dependencies_come_first_and_monitoring_last() {
        let mut kinds = [
            ("monitoring.coreos.com", "ServiceMonitor"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("", "Service"),
            ("apps", "Deployment"),
            ("policy", "PodDisruptionBudget"),
            ("", "ConfigMap"),
            ("", "ServiceAccount"),
            ("", "Namespace"),
        ];
        kinds.sort_by_key(|(g, k)| rank(g, k));
        let order: Vec<&str> = kinds.iter().map(|(_, k)| *k).collect();
        assert_eq!(
            order,
            [
                "Namespace",
                "ServiceAccount",
                "ConfigMap",
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                "HorizontalPodAutoscaler",
                "ServiceMonitor"
            ]
        );
    }

    #[test]
    fn a_deployment_an_hpa_scales_starts_at_its_minimum_and_keeps_its_count() {
        assert_eq!(replicas_for_hpa(3, None), Some(3));
        let owned = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "orders", "managedFields": [{
                "manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5}
        }));
        assert_eq!(
            replicas_for_hpa(3, Some(&owned)),
            Some(5),
            "keeps the live count"
        );
        let taken = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "orders", "managedFields": [{
                "manager": "kube-controller-manager", "operation": "Update",
                "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 7}
        }));
        assert_eq!(replicas_for_hpa(3, Some(&taken)), None, "the HPA owns it");
    }

    #[test]
    fn image_goes_to_the_container_named_after_the_service() {
        let mut d = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "orders"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "s:1"}, {"name": "orders", "image": "o:1"}]}}}
        }));
        set_image(&mut d, "o:2", "orders").unwrap();
        assert_eq!(
            d.data.pointer("/spec/template/spec/containers/1/image"),
            Some(&json!("o:2"))
        );
        assert_eq!(
            d.data.pointer("/spec/template/spec/containers/0/image"),
            Some(&json!("s:1"))
        );
    }

    #[test]
    fn image_is_refused_when_the_container_is_ambiguous() {
        let mut d = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "orders"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}
        }));
        let err = set_image(&mut d, "o:2", "orders").unwrap_err();
        assert!(err.to_string().contains("several containers"), "{err}");
    }

    #[test]
    fn the_diff_leaves_server_fields_out() {
        let live = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "1", "managedFields": []},
            "data": {"a": "1"}
        }));
        let stored = object(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "2", "managedFields": []},
            "data": {"a": "2"}
        }));
        let text = diff("ConfigMap/c", Some(&live), &stored);
        assert!(
            text.contains("-  a: '1'") || text.contains("-  a: \"1\""),
            "{text}"
        );
        assert!(!text.contains("resourceVersion"), "{text}");
        assert!(text.starts_with("--- live/ConfigMap/c"), "{text}");
    }
}
