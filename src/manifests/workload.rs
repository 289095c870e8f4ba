//! The Kubernetes objects of one service, as k8s-openapi types: ServiceAccount, ConfigMap,
//! Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, Namespace, NetworkPolicy.
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, GRPCAction, HTTPGetAction, Lifecycle, LifecycleHandler,
    Namespace, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceFieldSelector, ResourceRequirements, SeccompProfile, SecurityContext, Service,
    ServiceAccount, ServicePort, ServiceSpec, SleepAction, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::egress::{self, Peer};
use super::Spec;

/// The container port's name: probes, the Service's targetPort and the ServiceMonitor use it.
pub const PORT_NAME: &str = "http";
/// The uid and gid of distroless `nonroot`, which the generated image runs as.
pub const NONROOT: i64 = 65532;

/// Object names, shared by every builder and the tests.
pub fn config_map_name(spec: &Spec) -> String {
    format!("{}-config", spec.name)
}

fn meta(spec: &Spec, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: spec.namespace.clone(),
        labels: Some(spec.labels()),
        ..Default::default()
    }
}

fn selector(spec: &Spec) -> LabelSelector {
    LabelSelector {
        match_labels: Some(spec.selector_labels()),
        ..Default::default()
    }
}

pub fn namespace(spec: &Spec) -> Option<Namespace> {
    let ns = spec.namespace.as_ref().filter(|_| spec.create_namespace)?;
    let mut labels = spec.labels();
    // Enforce the same standard the pods are built to, so a hand edit that breaks it is refused.
    labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        "restricted".into(),
    );
    labels.insert(
        "pod-security.kubernetes.io/enforce-version".into(),
        "latest".into(),
    );
    Some(Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        ..Default::default()
    })
}

pub fn service_account(spec: &Spec) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(spec, &spec.name),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

/// The service's configuration as the generated service reads it (docs/contracts.md).
pub fn config_map(spec: &Spec) -> ConfigMap {
    let mut data = BTreeMap::from([
        ("SERVICE_NAME".to_string(), spec.name.clone()),
        ("PORT".to_string(), spec.port.to_string()),
        ("HOST".to_string(), "0.0.0.0".to_string()),
        (
            "DRAIN_DELAY".to_string(),
            format!("{}s", spec.budget.drain.as_secs()),
        ),
        (
            "SHUTDOWN_TIMEOUT".to_string(),
            format!("{}s", spec.budget.shutdown.as_secs()),
        ),
        (
            "REGISTRY".to_string(),
            spec.registry.clone().unwrap_or_default(),
        ),
    ]);
    for (k, v) in &spec.env {
        data.insert(k.clone(), v.clone());
    }
    ConfigMap {
        metadata: meta(spec, &config_map_name(spec)),
        data: Some(data),
        ..Default::default()
    }
}

/// Readiness: GET /readyz, or for a gRPC service `grpc.health.v1`'s overall status on the same
/// port, which turns NOT_SERVING with /readyz when the drain starts. Startup and liveness stay
/// on GET /healthz: a gRPC liveness probe would fail during every drain and restart the pod.
fn readiness_probe(spec: &Spec) -> Probe {
    if !spec.grpc {
        return http_probe("/readyz", 5, 2);
    }
    Probe {
        grpc: Some(GRPCAction {
            port: i32::from(spec.port),
            service: Some(String::new()),
        }),
        period_seconds: Some(5),
        timeout_seconds: Some(2),
        failure_threshold: Some(2),
        ..Default::default()
    }
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(PORT_NAME.into()),
            scheme: Some("HTTP".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn spread(spec: &Spec, key: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: key.into(),
        // ScheduleAnyway: a one-zone or one-node cluster still runs the service.
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(selector(spec)),
        match_label_keys: Some(vec!["pod-template-hash".into()]),
        ..Default::default()
    }
}

pub fn deployment(spec: &Spec) -> Deployment {
    let mut pod_labels = spec.labels();
    pod_labels.retain(|k, _| k != "app.kubernetes.io/managed-by");
    // A changed ConfigMap rolls the pods: its digest is part of the pod template.
    let config_digest = {
        let cm = config_map(spec);
        let mut h = Sha256::new();
        for (k, v) in cm.data.unwrap_or_default() {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        format!("{:x}", h.finalize())
    };
    let r = &spec.resources;
    let container = Container {
        name: spec.name.clone(),
        image: Some(spec.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: i32::from(spec.port),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(spec),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        env: Some(vec![
            env_field("POD_IP", "status.podIP"),
            env_field("INSTANCE_ID", "metadata.name"),
            EnvVar {
                name: "ADVERTISE_ADDR".into(),
                value: Some("$(POD_IP)".into()),
                ..Default::default()
            },
            EnvVar {
                name: "GOMEMLIMIT".into(),
                value_from: Some(EnvVarSource {
                    resource_field_ref: Some(ResourceFieldSelector {
                        container_name: Some(spec.name.clone()),
                        resource: "limits.memory".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        // Every second during startup only (it stops once it succeeds): a pod is ready about a
        // second after its process listens, not up to two, which every rollout and canary
        // step waits for. Still 60 s to start.
        startup_probe: Some(http_probe("/healthz", 1, 60)),
        liveness_probe: Some(http_probe("/healthz", 10, 3)),
        readiness_probe: Some(readiness_probe(spec)),
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: spec.budget.pre_stop.as_secs() as i64,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity(r.cpu_request.clone())),
                ("memory".to_string(), Quantity(r.memory_request.clone())),
                (
                    "ephemeral-storage".to_string(),
                    Quantity(EPHEMERAL_STORAGE_REQUEST.into()),
                ),
            ])),
            limits: Some(BTreeMap::from([
                ("memory".to_string(), Quantity(r.memory_limit.clone())),
                (
                    "ephemeral-storage".to_string(),
                    Quantity(EPHEMERAL_STORAGE_LIMIT.into()),
                ),
            ])),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT),
            run_as_group: Some(NONROOT),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Deployment {
        metadata: meta(spec, &spec.name),
        spec: Some(DeploymentSpec {
            // The HPA owns the count when there is one; a replicas field would fight it.
            replicas: match spec.autoscale {
                Some(_) => None,
                None => Some(spec.replicas as i32),
            },
            revision_history_limit: Some(5),
            selector: selector(spec),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([
                        ("hale.dev/config-sha256".to_string(), config_digest),
                        (
                            "kubectl.kubernetes.io/default-container".to_string(),
                            spec.name.clone(),
                        ),
                    ])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(spec.name.clone()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(
                        spec.budget.termination_grace_period_seconds(),
                    ),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT),
                        run_as_group: Some(NONROOT),
                        fs_group: Some(NONROOT),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    topology_spread_constraints: Some(vec![
                        spread(spec, "topology.kubernetes.io/zone"),
                        spread(spec, "kubernetes.io/hostname"),
                    ]),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            size_limit: Some(Quantity(TMP_SIZE_LIMIT.into())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Local disk the pod may use: the `/tmp` emptyDir (capped at [`TMP_SIZE_LIMIT`]) and the
/// container's logs (the kubelet keeps up to 5 × 10 MiB by default). Requested so that the
/// scheduler counts it and limited so that a runaway writer is evicted rather than filling the
/// node.
pub const EPHEMERAL_STORAGE_REQUEST: &str = "128Mi";
pub const EPHEMERAL_STORAGE_LIMIT: &str = "256Mi";
/// The size limit of the `/tmp` emptyDir.
pub const TMP_SIZE_LIMIT: &str = "64Mi";

/// The ClusterIP Service. Its one port carries no `appProtocol`, even for a gRPC service: the
/// port serves HTTP/1.1 (the HTTP API, probes, /metrics) and h2c gRPC together, split by each
/// connection's first bytes. `appProtocol: grpc` (or `kubernetes.io/h2c`) would let a mesh or
/// Gateway speak HTTP/2 to the pod on every connection, HTTP requests included, and the pod
/// hands every HTTP/2 connection to its gRPC server. Without it, proxies detect the protocol
/// per connection and pass each on as it came.
pub fn service(spec: &Spec) -> Service {
    Service {
        metadata: meta(spec, &spec.name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(spec.selector_labels()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: i32::from(spec.port),
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn pod_disruption_budget(spec: &Spec) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(spec, &spec.name),
        spec: Some(PodDisruptionBudgetSpec {
            // One at a time, never zero: maxUnavailable 0 would block every node drain.
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(spec)),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn utilization(resource: &str, percent: u32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent as i32),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

pub fn horizontal_pod_autoscaler(spec: &Spec) -> Option<HorizontalPodAutoscaler> {
    let a = spec.autoscale.as_ref()?;
    let mut metrics = vec![utilization("cpu", a.cpu_percent)];
    if let Some(m) = a.memory_percent {
        metrics.push(utilization("memory", m));
    }
    Some(HorizontalPodAutoscaler {
        metadata: meta(spec, &spec.name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: spec.name.clone(),
            },
            min_replicas: Some(spec.replicas as i32),
            max_replicas: a.max_replicas as i32,
            metrics: Some(metrics),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn port(p: IntOrString, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(p),
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

fn labels_peer(
    namespace: Option<&str>,
    pods: Option<BTreeMap<String, String>>,
) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: namespace.map(|ns| LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                ns.to_string(),
            )])),
            ..Default::default()
        }),
        // An empty pod selector alone: every pod of the policy's own namespace.
        pod_selector: Some(LabelSelector {
            match_labels: pods,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn egress_rule(to: &Peer) -> NetworkPolicyEgressRule {
    let tcp = |p: u16| port(IntOrString::Int(i32::from(p)), "TCP");
    let (to, ports) = match to {
        Peer::ClusterDns => (
            Some(vec![labels_peer(
                Some("kube-system"),
                Some(BTreeMap::from([(
                    "k8s-app".to_string(),
                    "kube-dns".to_string(),
                )])),
            )]),
            vec![
                port(IntOrString::Int(53), "UDP"),
                port(IntOrString::Int(53), "TCP"),
            ],
        ),
        Peer::Namespace { namespace, port } => (
            Some(vec![match namespace {
                Some(ns) => NetworkPolicyPeer {
                    pod_selector: None,
                    ..labels_peer(Some(ns), None)
                },
                None => labels_peer(None, None),
            }]),
            vec![tcp(*port)],
        ),
        Peer::Address { cidr, port } => (
            Some(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.clone(),
                    except: None,
                }),
                ..Default::default()
            }]),
            vec![tcp(*port)],
        ),
        Peer::AnyAddress { port } => (None, vec![tcp(*port)]),
        Peer::Service { name } => {
            return NetworkPolicyEgressRule {
                to: Some(vec![labels_peer(
                    None,
                    Some(BTreeMap::from([(
                        "app.kubernetes.io/name".to_string(),
                        name.clone(),
                    )])),
                )]),
                ports: None,
            }
        }
    };
    NetworkPolicyEgressRule {
        to,
        ports: Some(ports),
    }
}

pub fn network_policy(spec: &Spec) -> Option<NetworkPolicy> {
    if !spec.network_policy {
        return None;
    }
    let ns_peer = |ns: &str| NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                ns.to_string(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ingress = NetworkPolicyIngressRule {
        from: Some(vec![
            // Any pod of the service's own namespace.
            NetworkPolicyPeer {
                pod_selector: Some(LabelSelector::default()),
                ..Default::default()
            },
            ns_peer(&spec.monitoring_namespace),
        ]),
        ports: Some(vec![port(IntOrString::String(PORT_NAME.into()), "TCP")]),
    };
    // Only what the service's own settings dial (egress::needed); everything else is denied.
    let egress = egress::needed(spec)
        .into_iter()
        .map(|e| egress_rule(&e.to))
        .collect();
    Some(NetworkPolicy {
        metadata: meta(spec, &spec.name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(spec)),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![ingress]),
            egress: Some(egress),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::tests::full_spec;

    fn subset(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
        !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    #[test]
    fn a_grpc_service_is_ready_by_grpc_health_and_alive_by_healthz() {
        let container = |spec: &Spec| {
            deployment(spec)
                .spec
                .unwrap()
                .template
                .spec
                .unwrap()
                .containers[0]
                .clone()
        };
        let http = container(&full_spec());
        let path = |p: &Option<Probe>| p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone();
        assert_eq!(path(&http.readiness_probe).as_deref(), Some("/readyz"));
        assert!(http.readiness_probe.unwrap().grpc.is_none());

        let spec = Spec {
            grpc: true,
            ..full_spec()
        };
        let grpc = container(&spec);
        let ready = grpc.readiness_probe.clone().unwrap();
        let action = ready.grpc.expect("a grpc readiness probe");
        assert_eq!(action.port, i32::from(spec.port));
        assert_eq!(action.service.as_deref(), Some(""), "the overall status");
        assert!(ready.http_get.is_none());
        // Liveness must not follow the drain (NOT_SERVING) or every drain restarts the pod.
        assert_eq!(path(&grpc.liveness_probe).as_deref(), Some("/healthz"));
        assert_eq!(path(&grpc.startup_probe).as_deref(), Some("/healthz"));
    }

    #[test]
    fn a_grpc_services_port_names_no_app_protocol() {
        for grpc in [false, true] {
            let svc = service(&Spec {
                grpc,
                ..full_spec()
            });
            let ports = svc.spec.unwrap().ports.unwrap();
            assert_eq!(ports.len(), 1, "one port serves HTTP/1.1 and gRPC");
            assert_eq!(ports[0].app_protocol, None);
        }
    }

    #[test]
    fn every_selector_matches_the_pod_labels() {
        let spec = full_spec();
        let d = deployment(&spec);
        let ds = d.spec.as_ref().unwrap();
        let pod = ds
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap();
        assert!(subset(ds.selector.match_labels.as_ref().unwrap(), &pod));
        let svc = service(&spec);
        assert!(subset(
            svc.spec.as_ref().unwrap().selector.as_ref().unwrap(),
            &pod
        ));
        let pdb = pod_disruption_budget(&spec);
        let pdb_sel = pdb.spec.unwrap().selector.unwrap().match_labels.unwrap();
        assert!(subset(&pdb_sel, &pod));
        let np = network_policy(&spec).unwrap();
        let np_sel = np.spec.unwrap().pod_selector.unwrap().match_labels.unwrap();
        assert!(subset(&np_sel, &pod));
        for c in spread_selectors(&d) {
            assert!(subset(&c, &pod));
        }
        let hpa = horizontal_pod_autoscaler(&spec).unwrap();
        let target = hpa.spec.unwrap().scale_target_ref;
        assert_eq!(
            (target.kind.as_str(), target.name.as_str()),
            ("Deployment", d.metadata.name.as_deref().unwrap())
        );
        // The ServiceMonitor selects the Service by its labels, the Service selects the pods.
        let monitor = crate::manifests::monitoring::service_monitor(&spec);
        let svc_labels = svc.metadata.labels.clone().unwrap();
        assert!(subset(&monitor.spec.selector.match_labels, &svc_labels));
    }

    fn spread_selectors(d: &Deployment) -> Vec<BTreeMap<String, String>> {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .topology_spread_constraints
            .clone()
            .unwrap()
            .into_iter()
            .map(|c| c.label_selector.unwrap().match_labels.unwrap())
            .collect()
    }

    #[test]
    fn hpa_owns_replicas() {
        let spec = full_spec();
        assert_eq!(deployment(&spec).spec.unwrap().replicas, None);
        let fixed = Spec {
            autoscale: None,
            ..full_spec()
        };
        assert_eq!(deployment(&fixed).spec.unwrap().replicas, Some(2));
        assert!(horizontal_pod_autoscaler(&fixed).is_none());
    }

    #[test]
    fn local_disk_is_requested_limited_and_every_empty_dir_is_capped() {
        let pod = deployment(&full_spec())
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        for c in &pod.containers {
            let r = c.resources.as_ref().unwrap();
            for side in [&r.requests, &r.limits] {
                assert!(
                    side.as_ref().unwrap().contains_key("ephemeral-storage"),
                    "{}: {r:?}",
                    c.name
                );
            }
        }
        for v in pod.volumes.unwrap() {
            if let Some(dir) = v.empty_dir {
                assert!(
                    dir.size_limit.is_some(),
                    "emptyDir {} has a sizeLimit",
                    v.name
                );
            }
        }
    }

    #[test]
    fn network_policy_egress_is_what_the_settings_dial() {
        let np = network_policy(&full_spec()).unwrap().spec.unwrap();
        assert_eq!(
            np.policy_types.as_deref(),
            Some(&["Ingress".to_string(), "Egress".to_string()][..])
        );
        let shown: Vec<String> = np
            .egress
            .unwrap()
            .iter()
            .map(|r| {
                let peers = serde_json::to_string(&r.to).unwrap();
                let ports = serde_json::to_string(&r.ports).unwrap();
                format!("{peers} {ports}")
            })
            .collect();
        assert_eq!(
            shown,
            [
                // DNS: kube-dns only.
                r#"[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}] [{"port":53,"protocol":"UDP"},{"port":53,"protocol":"TCP"}]"#,
                // registry consul://consul.consul.svc:8500: that namespace, that port.
                r#"[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"consul"}}}] [{"port":8500,"protocol":"TCP"}]"#,
                // --downstream payments: its pods, any port.
                r#"[{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"payments"}}}] null"#,
            ]
        );
    }

    #[test]
    fn grace_period_covers_the_time_budget() {
        let spec = full_spec();
        let pod = deployment(&spec).spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.termination_grace_period_seconds, Some(40));
    }
}
