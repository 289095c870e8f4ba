//! The embedded file registry: one JSON file shared by hale and the generated Go service.
//!
//! Format (docs/contracts.md, "Registry formats"): `{"version":1,"instances":[...]}` sorted by name
//! and id, each entry with `ttl_ms`, `expires_unix_ms` and `updated_unix_ms`. Every
//! read-modify-write holds an exclusive flock(2) on the sidecar `PATH.lock`; readers take a
//! shared lock on it. Writes go to `PATH.tmp.<pid>` and are renamed over the file, so a reader
//! never sees half a document. Expired entries are invisible to readers and dropped by writers:
//! the TTL is enforced on read, with no daemon.
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{publish, Instance, Lease, RegistryError};

/// The file registry at one path.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    path: PathBuf,
}

/// The document on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileDocument {
    pub version: u32,
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub instances: Vec<FileEntry>,
}

/// One instance on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub id: String,
    pub address: String,
    pub port: u16,
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub check: String,
    pub ttl_ms: u64,
    pub expires_unix_ms: u64,
    #[serde(default)]
    pub updated_unix_ms: u64,
}

impl FileEntry {
    fn from_instance(instance: &Instance, now: u64) -> FileEntry {
        let ttl_ms = instance.ttl.as_millis() as u64;
        FileEntry {
            name: instance.name.clone(),
            id: instance.id.clone(),
            address: instance.address.clone(),
            port: instance.port,
            tags: instance.tags.clone(),
            meta: instance.meta.clone(),
            check: instance.check.clone().unwrap_or_default(),
            ttl_ms,
            expires_unix_ms: now + ttl_ms,
            updated_unix_ms: now,
        }
    }

    fn to_instance(&self) -> Instance {
        Instance {
            name: self.name.clone(),
            id: self.id.clone(),
            address: self.address.clone(),
            port: self.port,
            tags: self.tags.clone(),
            meta: self.meta.clone(),
            check: Some(self.check.clone()).filter(|c| !c.is_empty()),
            ttl: Duration::from_millis(self.ttl_ms),
        }
    }

    fn live(&self, now: u64) -> bool {
        now < self.expires_unix_ms
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl FileRegistry {
    pub fn new(path: PathBuf) -> FileRegistry {
        FileRegistry { path }
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, cause: io::Error) -> RegistryError {
        RegistryError::File {
            path: self.path.display().to_string(),
            cause,
        }
    }

    /// Run `f` on a blocking thread: flock and file I/O must not stall the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&path))
            .await
            .map_err(|e| self.error(io::Error::other(e)))?
    }

    pub async fn register(
        &self,
        instance: &Instance,
        replace: bool,
    ) -> Result<Lease, RegistryError> {
        let instance = instance.clone();
        self.blocking(move |path| {
            update(path, |doc, now| {
                if let Some(held) = doc
                    .instances
                    .iter()
                    .find(|e| e.name == instance.name && e.id == instance.id)
                {
                    let same_endpoint =
                        held.address == instance.address && held.port == instance.port;
                    if !replace && !same_endpoint {
                        return Err(RegistryError::DuplicateId {
                            name: instance.name.clone(),
                            id: instance.id.clone(),
                            holder: format!("{}:{}", held.address, held.port),
                        });
                    }
                }
                doc.instances
                    .retain(|e| !(e.name == instance.name && e.id == instance.id));
                doc.instances.push(FileEntry::from_instance(&instance, now));
                Ok(())
            })
        })
        .await?;
        Ok(Lease::ById)
    }

    pub async fn heartbeat(&self, instance: &Instance) -> Result<(), RegistryError> {
        let instance = instance.clone();
        let url = self.url();
        self.blocking(move |path| {
            update(path, |doc, now| {
                match doc
                    .instances
                    .iter_mut()
                    .find(|e| e.name == instance.name && e.id == instance.id)
                {
                    Some(entry) => {
                        entry.expires_unix_ms = now + entry.ttl_ms;
                        entry.updated_unix_ms = now;
                        Ok(())
                    }
                    None => Err(RegistryError::Lost {
                        url,
                        id: instance.id.clone(),
                    }),
                }
            })
        })
        .await
    }

    pub async fn deregister(&self, name: &str, id: &str) -> Result<bool, RegistryError> {
        let (name, id) = (name.to_string(), id.to_string());
        self.blocking(move |path| {
            update(path, |doc, _| {
                let before = doc.instances.len();
                doc.instances.retain(|e| !(e.name == name && e.id == id));
                Ok(doc.instances.len() != before)
            })
        })
        .await
    }

    pub async fn discover(&self, name: &str) -> Result<Vec<Instance>, RegistryError> {
        let name = name.to_string();
        self.blocking(move |path| {
            let doc = read_shared(path)?;
            let now = now_unix_ms();
            Ok(doc
                .instances
                .iter()
                .filter(|e| e.name == name && e.live(now))
                .map(FileEntry::to_instance)
                .collect())
        })
        .await
    }

    /// Poll the file every 200 ms; expiry is time-based, so polling also notices TTLs running out.
    pub async fn follow(
        self,
        service: String,
    ) -> Result<tokio::sync::watch::Receiver<Vec<Instance>>, RegistryError> {
        let first = self.discover(&service).await?;
        let (tx, rx) = tokio::sync::watch::channel(Vec::new());
        publish(&tx, first);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                // A file mid-rewrite by a foreign writer is retried on the next tick.
                if let Ok(list) = self.discover(&service).await {
                    publish(&tx, list);
                }
            }
        });
        Ok(rx)
    }
}

/// The registry file format this hale reads and writes.
const FORMAT: u64 = 1;

fn file_error(path: &Path, cause: io::Error) -> RegistryError {
    RegistryError::File {
        path: path.display().to_string(),
        cause,
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(path: &Path) -> Result<File, RegistryError> {
    if let Some(parent) = path.parent() {
        crate::userfile::create_dir_all(parent).map_err(|e| file_error(parent, e))?;
    }
    let lock = lock_path(path);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&lock)
        .map_err(|e| file_error(&lock, e))
}

fn read_document(path: &Path) -> Result<FileDocument, RegistryError> {
    let text = match crate::userfile::read(path, crate::userfile::Limit::STATE) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileDocument::default()),
        Err(e) => return Err(file_error(path, e)),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(FileDocument::default());
    }
    if let Some(found) = crate::values::declared_format(&text).filter(|v| *v > FORMAT) {
        return Err(RegistryError::NewerFormat(crate::values::newer_format(
            path,
            "registry file",
            found,
            FORMAT,
        )));
    }
    serde_json::from_slice(&text).map_err(|e| {
        file_error(
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a hale registry file ({e}); remove it or point --registry elsewhere"),
            ),
        )
    })
}

/// Read the document under a shared lock. Reading never creates anything: no registry file
/// reads as empty, and without a lock file (no writer made one yet) the file is read as is —
/// writers replace it by rename, so a reader sees a whole version either way.
pub fn read_shared(path: &Path) -> Result<FileDocument, RegistryError> {
    if !path.exists() {
        return Ok(FileDocument::default());
    }
    let lock = lock_path(path);
    let file = match OpenOptions::new().read(true).open(&lock) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return read_document(path),
        Err(e) => return Err(file_error(&lock, e)),
    };
    let _lock = flock(file, FlockArg::LockShared, path)?;
    read_document(path)
}

/// Read-modify-write under the exclusive lock: expired entries dropped, result sorted, written
/// to a temporary file and renamed into place. `change` failing leaves the file untouched.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut FileDocument, u64) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let _lock = flock(open_lock(path)?, FlockArg::LockExclusive, path)?;
    (|| {
        let mut doc = read_document(path)?;
        let now = now_unix_ms();
        doc.version = FORMAT as u32;
        doc.instances.retain(|e| e.live(now));
        let out = change(&mut doc, now)?;
        doc.instances
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            serde_json::to_writer_pretty(&mut f, &doc).map_err(io::Error::other)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(file_error(path, e));
        }
        Ok(out)
    })()
}

/// flock(2) through nix (std's `File::lock` needs Rust 1.89, above hale's MSRV); the lock is
/// released when the returned guard drops.
fn flock(file: File, how: FlockArg, path: &Path) -> Result<Flock<File>, RegistryError> {
    Flock::lock(file, how).map_err(|(_, errno)| file_error(path, io::Error::from(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, port: u16) -> Instance {
        Instance {
            name: "orders".into(),
            id: id.into(),
            address: "127.0.0.1".into(),
            port,
            tags: vec![],
            meta: BTreeMap::from([("version".into(), "0.1.0".into())]),
            check: Some("/healthz".into()),
            ttl: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn register_writes_the_shared_format_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/registry.json");
        let reg = FileRegistry::new(path.clone());
        reg.register(&instance("orders-2", 2), false).await.unwrap();
        reg.register(&instance("orders-1", 1), false).await.unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["instances"][0]["id"], "orders-1");
        assert_eq!(doc["instances"][0]["check"], "/healthz");
        assert_eq!(doc["instances"][0]["ttl_ms"], 10000);
        let exp = doc["instances"][0]["expires_unix_ms"].as_u64().unwrap();
        let upd = doc["instances"][0]["updated_unix_ms"].as_u64().unwrap();
        assert_eq!(exp - upd, 10000);
        assert!(lock_path(&path).exists());
    }

    #[test]
    fn go_nulls_read_as_empty() {
        let doc: FileDocument = serde_json::from_str(
            r#"{"version":1,"instances":[{"name":"o","id":"o-1","address":"127.0.0.1","port":1,
            "tags":null,"meta":null,"ttl_ms":1000,"expires_unix_ms":1}]}"#,
        )
        .unwrap();
        assert!(doc.instances[0].tags.is_empty() && doc.instances[0].meta.is_empty());
    }

    #[tokio::test]
    async fn expired_entries_are_invisible_and_dropped() {
        // Expiry is read from the file's own `expires_unix_ms`, so the test writes an entry
        // that expired long ago next to a live one, rather than waiting out a short TTL (which
        // a busy machine can overrun before the first look).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let reg = FileRegistry::new(path.clone());
        let live = instance("orders-1", 1);
        reg.register(&live, false).await.unwrap();
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut expired = doc["instances"][0].clone();
        expired["id"] = "orders-2".into();
        expired["port"] = 2.into();
        expired["expires_unix_ms"] = (now_unix_ms() - 1).into();
        doc["instances"].as_array_mut().unwrap().push(expired);
        std::fs::write(&path, doc.to_string()).unwrap();

        let found = reg.discover("orders").await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "orders-1");
        let gone = instance("orders-2", 2);
        assert!(matches!(
            reg.heartbeat(&gone).await,
            Err(RegistryError::Lost { .. })
        ));
        // The next write drops it from the file.
        reg.heartbeat(&live).await.unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["instances"].as_array().unwrap().len(), 1, "{doc}");
    }

    #[tokio::test]
    async fn an_id_held_at_another_endpoint_is_refused_unless_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let reg = FileRegistry::new(dir.path().join("r.json"));
        reg.register(&instance("orders-1", 1), false).await.unwrap();
        reg.register(&instance("orders-1", 1), false).await.unwrap();
        let err = reg
            .register(&instance("orders-1", 2), false)
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::DuplicateId { .. }), "{err}");
        reg.register(&instance("orders-1", 2), true).await.unwrap();
        assert_eq!(reg.discover("orders").await.unwrap()[0].port, 2);
        assert!(reg.deregister("orders", "orders-1").await.unwrap());
        assert!(!reg.deregister("orders", "orders-1").await.unwrap());
    }
}
