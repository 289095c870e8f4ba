//! `--url https://…` with `--on-cluster`: what the shards trust.
//!
//! The shard image is the hale binary and nothing else: no CA roots. So the CLI ships the
//! certificates the shards check the server against: those of `--cacert FILE`, or else this
//! machine's system roots (what a local `hale load` would trust), re-encoded as PEM (only the
//! certificates: whatever else the file holds stays here). They go into a ConfigMap
//! `hale-load-<run>-ca` owned by the Job (so the garbage collector takes it with the Job),
//! mounted read-only into every shard pod at [`CA_DIR`]; the CLI deletes it itself on every
//! exit path, as it does the Job. `--insecure` ships nothing: the shards accept any certificate,
//! as a local run does.
//!
//! The Job is created suspended when a ConfigMap goes with it, so no pod starts before the
//! ConfigMap it mounts exists (the ConfigMap needs the Job's uid for its owner reference).
use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, KeyToPath, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::ClusterError;
use crate::kube::Cluster;
use crate::load::tls::{self, TlsError, Trust};

/// Where a shard finds the shipped certificates.
pub const CA_DIR: &str = "/etc/hale-shard-ca";
/// The ConfigMap key (and file name) of the PEM.
pub const CA_KEY: &str = "ca.pem";
/// A ConfigMap holds at most 1 MiB; leave room for its metadata.
const MAX_PEM: usize = 1000 * 1024;

/// What a shard is told to trust (in its [`super::job::ShardSpec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardTrust {
    /// The certificates mounted at [`CA_DIR`]/[`CA_KEY`].
    Shipped,
    /// `--insecure`: any certificate.
    Insecure,
}

impl ShardTrust {
    /// The shard's own [`Trust`]: the mounted file is read as `--cacert` reads its file.
    pub fn local(self) -> Trust {
        match self {
            ShardTrust::Shipped => Trust::CaFile(Path::new(CA_DIR).join(CA_KEY)),
            ShardTrust::Insecure => Trust::Insecure,
        }
    }
}

/// What the CLI sends the shards for an https:// target.
#[derive(Debug, Clone)]
pub struct Shipment {
    pub trust: ShardTrust,
    /// The PEM for the ConfigMap (none for `--insecure`).
    pub pem: Option<String>,
    /// How many certificates the PEM holds, and where they came from, for the progress line.
    pub certificates: usize,
    pub source: String,
    /// The client a local run with the same flags would use.
    pub client: tls::TlsClient,
}

/// The trust `--cacert` and `--insecure` ask for, as the shards will get it: the file's
/// certificates (refused in one line if it holds none, as locally), this machine's system roots,
/// or nothing to ship.
pub fn shipment(cacert: Option<&Path>, insecure: bool) -> Result<Shipment, ClusterError> {
    // The client a local run would use: the same checks of the file, so the shards cannot
    // fail on it; the merged report's TLS figures are those of an HTTPS run.
    let client = tls::TlsClient::new(&Trust::from_flags(cacert, insecure))
        .map_err(|e| ClusterError::BadInput(e.to_string()))?;
    let (certificates, source) = match (cacert, insecure) {
        (_, true) => {
            return Ok(Shipment {
                trust: ShardTrust::Insecure,
                pem: None,
                certificates: 0,
                source: "--insecure".into(),
                client,
            })
        }
        (Some(path), false) => (
            tls::certificates_in(path).map_err(|e| ClusterError::BadInput(e.to_string()))?,
            format!("--cacert {}", path.display()),
        ),
        (None, false) => (system_roots()?, "this machine's system roots".to_string()),
    };
    let pem = crate::image::base::pem(&certificates);
    if pem.len() > MAX_PEM {
        return Err(ClusterError::BadInput(format!(
            "{source}: {} certificates, {} KiB of PEM, more than a ConfigMap holds; give --cacert FILE with the CA that signed the server's certificate",
            certificates.len(),
            pem.len() / 1024
        )));
    }
    Ok(Shipment {
        trust: ShardTrust::Shipped,
        pem: Some(pem),
        certificates: certificates.len(),
        source,
        client,
    })
}

/// The system's root certificates that parse as trust anchors (unreadable ones are skipped, as
/// a local run skips them); none at all is refused as locally.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, ClusterError> {
    let found = rustls_native_certs::load_native_certs();
    let roots: Vec<CertificateDer<'static>> = found
        .certs
        .into_iter()
        .filter(|c| webpki::anchor_from_trusted_cert(c).is_ok())
        .collect();
    if roots.is_empty() {
        return Err(ClusterError::BadInput(TlsError::NoSystemRoots.to_string()));
    }
    Ok(roots)
}

/// The ConfigMap of the Job `job_name`.
pub fn config_map_name(job_name: &str) -> String {
    format!("{job_name}-ca")
}

/// The pod volume of the shipped certificates.
pub fn volume(job_name: &str) -> Volume {
    Volume {
        name: "ca".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(job_name),
            items: Some(vec![KeyToPath {
                key: CA_KEY.into(),
                path: CA_KEY.into(),
                ..Default::default()
            }]),
            optional: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn mount() -> VolumeMount {
    VolumeMount {
        name: "ca".into(),
        mount_path: CA_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// The ConfigMap for the created (suspended) Job `job`, owned by it.
pub fn manifest(job: &Job, labels: BTreeMap<String, String>, pem: &str) -> ConfigMap {
    let name = job.metadata.name.clone().unwrap_or_default();
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(&name)),
            labels: Some(labels),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name,
                uid: job.metadata.uid.clone().unwrap_or_default(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(CA_KEY.to_string(), pem.to_string())])),
        immutable: Some(true),
        ..Default::default()
    }
}

pub async fn create(cluster: &Cluster, config_map: &ConfigMap) -> Result<(), ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let name = config_map.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), config_map)
        .await
        .map_err(|e| cluster.error(format!("ConfigMap/{name}"), e))?;
    Ok(())
}

/// Delete the run's ConfigMap (gone already is fine: the garbage collector may have taken it
/// with the Job).
pub async fn delete(cluster: &Cluster, name: &str) -> Result<(), ClusterError> {
    let api: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(cluster.error(format!("ConfigMap/{name}"), e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_pem_reads_back_as_the_same_certificates_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["10.244.0.1".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["orders.shop".into()]).unwrap();
        // A file with a private key beside the certificates: only the certificates go.
        let file = dir.path().join("bundle.pem");
        std::fs::write(
            &file,
            format!(
                "{}{}{}",
                a.cert.pem(),
                a.key_pair.serialize_pem(),
                b.cert.pem()
            ),
        )
        .unwrap();
        let shipped = shipment(Some(&file), false).unwrap();
        assert_eq!(shipped.trust, ShardTrust::Shipped);
        assert_eq!(shipped.certificates, 2);
        let pem = shipped.pem.unwrap();
        assert!(!pem.contains("PRIVATE KEY"), "{pem}");
        let back = dir.path().join("back.pem");
        std::fs::write(&back, &pem).unwrap();
        let read = tls::certificates_in(&back).unwrap();
        assert_eq!(read, vec![a.cert.der().clone(), b.cert.der().clone()]);
        assert!(pem.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn insecure_ships_nothing_and_a_file_without_certificates_is_refused_in_one_line() {
        let shipped = shipment(None, true).unwrap();
        assert_eq!(shipped.trust, ShardTrust::Insecure);
        assert!(shipped.pem.is_none());
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = shipment(Some(&empty), false).unwrap_err();
        assert!(err.is_bad_input());
        assert_eq!(err.to_string().lines().count(), 1, "{err}");
        assert!(err.to_string().contains("--cacert"), "{err}");
    }

    #[test]
    fn the_config_map_is_owned_by_the_job_and_named_after_it() {
        let job = Job {
            metadata: ObjectMeta {
                name: Some("hale-load-0badcafe".into()),
                uid: Some("1234-5678".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let cm = manifest(&job, BTreeMap::new(), "PEM");
        assert_eq!(cm.metadata.name.as_deref(), Some("hale-load-0badcafe-ca"));
        let owner = &cm.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("Job", "hale-load-0badcafe", "1234-5678")
        );
        assert_eq!(
            volume("hale-load-0badcafe").config_map.unwrap().name,
            "hale-load-0badcafe-ca"
        );
    }
}
