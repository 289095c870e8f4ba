//! The manifests `Spec` of a service: flags > hale.toml `[deploy]`/`[image]` >
//! `.hale/build.json` > defaults, checked later by [`Spec::validate`] before anything is written.
use std::path::Path;

use super::{image, DeployError, ImageOrigin};
use crate::manifests::{self, Autoscale, Resources, Slo, Spec};
use crate::settings::Settings;

/// The flags that shape the rendered set, as plain values (`hale deploy`'s render options,
/// `--namespace` and `--image`).
#[derive(Debug, Clone, Default)]
pub struct SpecFlags {
    pub namespace: Option<String>,
    pub image: Option<String>,
    pub create_namespace: bool,
    pub replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    pub hpa_cpu: u32,
    pub hpa_memory: Option<u32>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub memory_limit: Option<String>,
    pub slo: Vec<String>,
    pub downstream: Vec<String>,
    pub network_policy: bool,
    pub monitoring_namespace: String,
    pub prometheus_label: String,
    pub scrape_target: Vec<String>,
}

fn bad(message: String) -> DeployError {
    DeployError::BadInput(message)
}

/// The service's spec and where its image came from.
pub fn resolve_spec(
    dir: &Path,
    settings: &Settings,
    flags: &SpecFlags,
) -> Result<(Spec, ImageOrigin), DeployError> {
    let name = settings.name.clone().ok_or_else(|| {
        bad(
            "no service name: run in a service folder (with hale.toml) or give its path, such \
             as `hale deploy --render ./orders`"
                .into(),
        )
    })?;
    let d = &settings.deploy;
    let slo_specs = if flags.slo.is_empty() {
        d.slo.clone()
    } else {
        flags.slo.clone()
    };
    let slos = slo_specs
        .iter()
        .map(|s| s.parse::<Slo>().map_err(|e| bad(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let (label_key, label_value) = flags.prometheus_label.split_once('=').ok_or_else(|| {
        bad(format!(
            "--prometheus-label {:?} is not KEY=VALUE, such as release=kube-prometheus-stack",
            flags.prometheus_label
        ))
    })?;
    let (image, version, origin) =
        image::resolve_image(dir, &name, flags.image.as_deref(), settings)?;
    let registry = Some(settings.registry.clone())
        .filter(|r| r.starts_with("consul://") || r.starts_with("etcd://"));
    for t in &flags.scrape_target {
        let ok = t
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(bad(format!(
                "--scrape-target {t:?} is not HOST:PORT with a port from 1 to 65535"
            )));
        }
    }
    let max_replicas = flags.max_replicas.or(d.max_replicas);
    let or_setting = |flag: &Option<String>, setting: &Option<String>, default: String| {
        flag.clone().or_else(|| setting.clone()).unwrap_or(default)
    };
    let spec = Spec {
        name,
        namespace: flags.namespace.clone().or_else(|| d.namespace.clone()),
        create_namespace: flags.create_namespace,
        port: settings.port,
        image,
        version,
        replicas: flags.replicas.or(d.replicas).unwrap_or(2),
        autoscale: max_replicas.map(|max| Autoscale {
            max_replicas: max,
            cpu_percent: flags.hpa_cpu,
            memory_percent: flags.hpa_memory,
        }),
        resources: Resources {
            cpu_request: or_setting(&flags.cpu, &d.cpu, Resources::default().cpu_request),
            memory_request: or_setting(
                &flags.memory,
                &d.memory,
                Resources::default().memory_request,
            ),
            memory_limit: or_setting(
                &flags.memory_limit,
                &d.memory_limit,
                Resources::default().memory_limit,
            ),
        },
        env: d.env.clone(),
        registry,
        network_policy: flags.network_policy || d.network_policy.unwrap_or(false),
        monitoring_namespace: flags.monitoring_namespace.clone(),
        downstreams: if flags.downstream.is_empty() {
            d.downstreams.clone()
        } else {
            flags.downstream.clone()
        },
        prometheus_label: (label_key.to_string(), label_value.to_string()),
        slos,
        budget: manifests::TimeBudget::DEFAULT,
        scrape_targets: flags.scrape_target.clone(),
        runbook_base: runbook_base(d.runbook_base_url.as_deref())?,
        grpc: serves_grpc(dir)?,
    };
    Ok((spec, origin))
}

/// Whether the service in `dir` serves gRPC: hale.lock's `grpc` input, written by
/// `hale new --grpc`. No hale.lock (a service hale did not make) means plain HTTP; a hale.lock
/// that cannot be read is refused, as `hale upgrade` refuses it.
fn serves_grpc(dir: &Path) -> Result<bool, DeployError> {
    if !dir.join(crate::scaffold::lock::LOCK_FILE).exists() {
        return Ok(false);
    }
    crate::scaffold::lock::Lock::read(dir)
        .map(|lock| lock.inputs.grpc)
        .map_err(|e| bad(format!("{e:#}")))
}

/// hale.toml's `[deploy] runbook_base_url` as the prefix of every `runbook_url`: empty when unset
/// (links relative to the service's repository), else ending in `/`.
fn runbook_base(url: Option<&str>) -> Result<String, DeployError> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(String::new());
    };
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '#' || c == '?')
    {
        return Err(bad(format!(
            "[deploy] runbook_base_url {url:?} is not a URL of a folder: give the folder that \
             holds RUNBOOK.md, such as https://github.com/acme/orders/blob/main (no spaces, \
             quotes, '?' or '#')"
        )));
    }
    Ok(format!("{}/", url.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::runbook_base;

    #[test]
    fn the_runbook_base_ends_in_one_slash_and_refuses_what_breaks_a_link() {
        assert_eq!(runbook_base(None).unwrap(), "");
        assert_eq!(runbook_base(Some("  ")).unwrap(), "");
        assert_eq!(
            runbook_base(Some("https://github.com/acme/orders/blob/main")).unwrap(),
            "https://github.com/acme/orders/blob/main/"
        );
        assert_eq!(runbook_base(Some("docs//")).unwrap(), "docs/");
        for bad in ["https://x/a b", "https://x/#top", "https://x/?a=1", "a\"b"] {
            assert!(runbook_base(Some(bad)).is_err(), "{bad}");
        }
    }
}
