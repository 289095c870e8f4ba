//! Health polling: `/readyz` until every started instance is ready, the registry until every
//! instance shows up, and the log tail an error message quotes.
use std::io::{Read as _, Seek as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::{FleetError, FleetState, Runtime, UpOptions};
use crate::discovery::{Layout, Registry};
use crate::progress::Progress;

/// The last `lines` lines of a log, joined on one line for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return "(no log)".into();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(std::io::SeekFrom::Start(len.saturating_sub(8192)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    if tail.is_empty() {
        "(empty log)".into()
    } else {
        tail.join(" | ")
    }
}

/// Probe `http://addr/path` with a short timeout; the status code, or `None` if nothing answered.
pub async fn probe(client: &reqwest::Client, addr: SocketAddr, path: &str) -> Option<u16> {
    client
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

pub(super) fn probe_client() -> Result<reqwest::Client, FleetError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .map_err(FleetError::Client)
}

pub(super) async fn wait_ready(
    runtime: &impl Runtime,
    state: &FleetState,
    ids: &[String],
    timeout: Duration,
    progress: &Progress,
) -> Result<(), FleetError> {
    let client = probe_client()?;
    let deadline = tokio::time::Instant::now() + timeout;
    for id in ids {
        let instance = state.instance(id)?;
        loop {
            if !runtime.is_running(&instance.handle()).await {
                let _ = runtime.save_log(&instance.handle(), &instance.log).await;
                return Err(FleetError::ExitedBeforeReady {
                    id: id.clone(),
                    log: instance.log.clone(),
                    tail: log_tail(&instance.log, 5),
                });
            }
            if probe(&client, instance.socket_addr(), "/readyz").await == Some(200) {
                progress.status("Ready", id.clone());
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = runtime.save_log(&instance.handle(), &instance.log).await;
                return Err(FleetError::NotReady {
                    id: id.clone(),
                    addr: instance.socket_addr(),
                    within: timeout,
                    log: instance.log.clone(),
                    tail: log_tail(&instance.log, 5),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Wait (bounded) until every instance is visible in the registry; returns those that are.
pub(super) async fn wait_registered(
    opts: &UpOptions,
    state: &FleetState,
    progress: &Progress,
) -> Vec<String> {
    let ids: Vec<String> = state.instances.iter().map(|i| i.id.clone()).collect();
    let Ok(registry) = Registry::new(&opts.registry, Layout::Hale) else {
        return Vec::new();
    };
    let deadline = tokio::time::Instant::now() + opts.registry_timeout;
    loop {
        let seen: Vec<String> = registry
            .discover(&opts.name)
            .await
            .map(|list| {
                list.into_iter()
                    .map(|i| i.id)
                    .filter(|id| ids.contains(id))
                    .collect()
            })
            .unwrap_or_default();
        if seen.len() == ids.len() || tokio::time::Instant::now() >= deadline {
            let missing: Vec<String> = ids.iter().filter(|i| !seen.contains(i)).cloned().collect();
            if !missing.is_empty() {
                progress.warn(format!(
                    "{} did not appear in {} within {}; check the logs in .hale/logs",
                    missing.join(", "),
                    opts.registry,
                    humantime::format_duration(opts.registry_timeout)
                ));
            }
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_keeps_the_last_lines_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        std::fs::write(&log, "a\nb\n\nc\nd\n").unwrap();
        assert_eq!(log_tail(&log, 2), "c | d");
    }
}
