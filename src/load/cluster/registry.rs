//! SERVICE with `--registry consul://…|etcd://…` and `--on-cluster`: the shards follow the
//! registry themselves.
//!
//! Each shard is hale, so it follows the registry as a local `hale load SERVICE --registry URL`
//! does (the same watch, the same instances, the same `added`/`removed` events), from inside its
//! pod: the registry's address must be one the pods reach. A loopback address is this machine's
//! own from the CLI but the pod's own from a shard, and a `file://` registry is a file on this
//! machine: both are refused before anything is built or created. The CLI does not read the
//! registry itself (the address the pods reach need not be one this machine reaches).
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::discovery::{split_host_port, Layout, RegistryUrl};
use crate::load::targets::{self, Scheme};
use crate::load::Targets;

/// What a shard follows (in its [`super::job::ShardSpec`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRegistry {
    /// `consul://HOST:PORT` or `etcd://HOST:PORT`.
    pub url: String,
    pub service: String,
    pub layout: Layout,
}

/// The registry a shard can follow: consul:// or etcd:// at an address that is not loopback.
pub fn check(url: &RegistryUrl) -> Result<(), ClusterError> {
    let addr = match url {
        RegistryUrl::Consul { addr } | RegistryUrl::Etcd { addr } => addr,
        RegistryUrl::File { .. } => {
            return Err(ClusterError::BadInput(format!(
                "--registry {url} with --on-cluster: the shard pods cannot read a file on this machine; give consul:// or etcd:// at an address the pods reach"
            )))
        }
    };
    let host = split_host_port(addr)
        .map(|(host, _)| host)
        .unwrap_or_else(|| addr.clone());
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    if loopback {
        return Err(ClusterError::BadInput(format!(
            "--registry {url} with --on-cluster: {host} is each shard pod's own loopback, not this machine; give the registry's address as the pods reach it"
        )));
    }
    Ok(())
}

/// The shard side: the service's instances, followed live through the registry.
pub async fn follow(
    registry: &ShardRegistry,
    scheme: Option<Scheme>,
) -> Result<Targets, ClusterError> {
    let url =
        RegistryUrl::parse(&registry.url).map_err(|e| ClusterError::BadInput(e.to_string()))?;
    check(&url)?;
    let live = targets::follow_service(&url, &registry.service, registry.layout, scheme)
        .await
        .map_err(crate::load::job::JobError::from)?;
    Ok(Targets::Live(live))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_file_registries_are_refused_in_one_line() {
        for text in [
            "consul://127.0.0.1:8500",
            "etcd://localhost:2379",
            "consul://[::1]:8500",
            "etcd://127.1.2.3:2379",
            "consul://0.0.0.0:8500",
            "file:///tmp/registry.json",
        ] {
            let url = RegistryUrl::parse(text).unwrap();
            let err = check(&url).unwrap_err();
            assert!(err.is_bad_input(), "{text}");
            let line = err.to_string();
            assert_eq!(line.lines().count(), 1, "{line}");
            assert!(line.contains("--on-cluster"), "{line}");
        }
    }

    #[test]
    fn registries_the_pods_reach_are_accepted() {
        for text in [
            "consul://10.244.0.1:8500",
            "etcd://etcd.infra.svc:2379",
            "consul://[fd00::1]:8500",
        ] {
            check(&RegistryUrl::parse(text).unwrap()).unwrap();
        }
    }

    #[test]
    fn what_a_shard_follows_survives_its_spec() {
        let spec = ShardRegistry {
            url: "etcd://10.244.0.1:2379".into(),
            service: "orders".into(),
            layout: Layout::GoZero,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ShardRegistry>(&json).unwrap(), spec);
    }
}
