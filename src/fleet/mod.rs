//! A local fleet: N instances of a generated service, state in `.hale/`.
//!
//! `hale up` builds the service once (`go build -o .hale/bin/<name> ./cmd/<name>`), starts each
//! instance on a free 127.0.0.1 port with its log in `.hale/logs/<id>.log`, waits for `/readyz`,
//! and records everything in `.hale/fleet.json` (written to a temporary file and renamed).
//! Instances register themselves through the service's own registry code (the REGISTRY
//! variable); hale only checks they showed up.
//!
//! Everything that touches an instance goes through the [`Runtime`] trait, addressed by the
//! instance's [`Handle`]: [`ProcessRuntime`] runs processes (a pid), [`docker::DockerRuntime`]
//! containers of the image `hale build` made (a container id), chosen by the fleet state's
//! [`RuntimeKind`]. `up`, [`status`], [`down`], [`kill_instance`] and [`restore_instance`] all
//! take the runtime from the fleet's state. `hale load` uses the last two and [`set_faults`]
//! to inject failures; they hold the fleet lock as `up` and `down` do.
//!
//! One responsibility per file: `state.rs` (fleet.json and its types), `lock.rs` (the fleet
//! lock), `runtime.rs` (the `Runtime` trait and what an instance needs to start), `process.rs`
//! (process supervision and `go build`), `docker.rs` (containers through the engine),
//! `health.rs` (readiness and registry polling), `up.rs`, `down.rs`, `status.rs` (`hale ps`),
//! `faults.rs` (what `hale load` does to instances) and `report.rs` (the commands' documents).
pub mod docker;
mod down;
mod faults;
mod health;
mod lock;
mod process;
pub mod report;
mod runtime;
mod state;
mod status;
mod up;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::discovery::RegistryError;

pub use down::{down, stop_instances, DownReport, StopMethod, StoppedInstance};
pub use faults::{get_faults, kill_instance, restore_instance, set_faults, ActiveFaults, Faults};
pub use health::{log_tail, probe};
pub use lock::{FleetLock, LOCK_FILE};
pub use process::ProcessRuntime;
pub use runtime::{free_port, instance_env, FleetRuntime, InstanceSpec, Runtime};
pub use state::{FleetInstance, FleetState, Handle, RuntimeKind};
pub use status::{status, InstanceStatus};
pub use up::{up, RuntimeChoice, UpOptions, UpReport};

/// The folder, inside the service, where hale keeps a fleet's state.
pub const STATE_DIR: &str = ".hale";

/// What went wrong with a fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("no fleet in {dir} (reading {path}): start one with `hale up`")]
    NoFleet {
        dir: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a hale fleet state file")]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A path in the state file that leads out of `.hale/` (a hand-edited or foreign file).
    #[error(transparent)]
    Escape(#[from] crate::confine::Escape),
    #[error("no instance {id:?} in the {service} fleet (it has {known})")]
    NoInstance {
        id: String,
        service: String,
        known: String,
    },
    #[error(
        "the running fleet uses {running} (not {asked}): run `hale down` first to change registry"
    )]
    RegistryChanged { running: String, asked: String },
    #[error("the running fleet is {running:?} (not {asked:?}): run `hale down` first")]
    ServiceChanged { running: String, asked: String },
    #[error("{0} does not exist: run `hale up` in a service made by `hale new` (or fix `name` in hale.toml)")]
    NotAService(PathBuf),
    #[error("running `go build` (is Go installed and on PATH?)")]
    GoMissing(#[source] std::io::Error),
    #[error("`go build ./cmd/{name}` failed: {tail}")]
    BuildFailed { name: String, tail: String },
    #[error("instance {id} exited before it was ready; log tail ({log}): {tail}")]
    ExitedBeforeReady {
        id: String,
        log: PathBuf,
        tail: String,
    },
    #[error("instance {id} did not answer 200 on http://{addr}/readyz within {}; log tail ({}): {tail}", humantime::format_duration(*within), log.display())]
    NotReady {
        id: String,
        addr: SocketAddr,
        within: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("{id} ({handle}) still runs 5 s after SIGKILL")]
    StillRunning { id: String, handle: Handle },
    #[error("sending {signal} to {handle}")]
    Signal {
        signal: Signal,
        handle: Handle,
        #[source]
        source: nix::Error,
    },
    #[error("error rate {0} is outside 0..1")]
    BadErrorRate(f64),
    /// `.hale/fleet.json` written by a newer hale: refused, never rewritten.
    #[error("{0}")]
    NewerState(String),
    #[error("setting faults on {addr}")]
    FaultsUnreachable {
        addr: SocketAddr,
        #[source]
        source: reqwest::Error,
    },
    #[error("setting faults on {addr}: HTTP {status} (is ADMIN_ENABLED=true?)")]
    FaultsRefused { addr: SocketAddr, status: u16 },
    #[error("cannot set up the HTTP client for probes: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the fleet stopped, but checking that {id} left the registry failed")]
    CheckDeregistered {
        id: String,
        #[source]
        source: RegistryError,
    },
    #[error("{ids} still listed in {url} after stopping")]
    StillListed { ids: String, url: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{action}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The stop signal arrived: what had started was stopped again.
    #[error("stopped before the fleet was ready")]
    Stopped,
    #[error(
        "the running fleet runs as {running} (not {asked}): run `hale down` first to change runtime"
    )]
    RuntimeChanged { running: String, asked: String },
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    #[error("another hale{} is changing the fleet in {}: let it finish and run this again (lock {})", holder.map(|p| format!(" (pid {p})")).unwrap_or_default(), dir.display(), lock.display())]
    Locked {
        dir: PathBuf,
        lock: PathBuf,
        holder: Option<u32>,
    },
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> FleetError {
    let action = action.into();
    move |source| FleetError::Io { action, source }
}
