//! Process supervision: the service built once with `go build`, each instance a process in
//! its own process group, signalled as a group and reaped so it never lingers as a zombie.
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{io, FleetError, Handle, InstanceSpec, Runtime};
use crate::gotool::GoRunError;
use crate::stop::Stop;

/// Instances as local processes of the built binary, each in its own process group.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    pub binary: PathBuf,
}

impl Runtime for ProcessRuntime {
    async fn start(&self, spec: &InstanceSpec) -> Result<Handle, FleetError> {
        if let Some(parent) = spec.log.parent() {
            crate::userfile::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        let opening = || format!("opening {}", spec.log.display());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
            .map_err(io(opening()))?;
        let mut cmd = std::process::Command::new(&self.binary);
        cmd.current_dir(&spec.workdir)
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(io(opening()))?)
            .stderr(log)
            // Its own process group: Ctrl-C in hale's terminal does not reach the fleet, and
            // `hale down` signals the instance with everything it started.
            .process_group(0);
        for key in ["PATH", "HOME", "TMPDIR", "TZ"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().map_err(io(format!(
            "starting {} for {}",
            self.binary.display(),
            spec.id
        )))?;
        Ok(Handle::Pid(child.id()))
    }

    async fn is_running(&self, handle: &Handle) -> bool {
        let Handle::Pid(pid) = *handle else {
            return false;
        };
        reap(pid);
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, Some('Z' | 'X') | None) {
            return false;
        }
        // A pid reused by another program is not our instance.
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) => {
                let exe = exe.to_string_lossy();
                let binary = self.binary.to_string_lossy();
                exe == binary || exe.strip_suffix(" (deleted)") == Some(&binary)
            }
            Err(_) => true,
        }
    }

    async fn terminate(&self, handle: &Handle) -> Result<(), FleetError> {
        signal_group(handle, Signal::SIGTERM)
    }

    async fn kill(&self, handle: &Handle) -> Result<(), FleetError> {
        signal_group(handle, Signal::SIGKILL)
    }

    async fn remove(&self, _: &Handle) -> Result<(), FleetError> {
        Ok(())
    }

    async fn save_log(&self, _: &Handle, _: &Path) -> Result<(), FleetError> {
        Ok(())
    }
}

/// Send a signal to the process group an instance leads (or the process, if it no longer does).
fn signal_group(handle: &Handle, signal: Signal) -> Result<(), FleetError> {
    let Handle::Pid(pid) = *handle else {
        return Ok(());
    };
    let failed = |source| FleetError::Signal {
        signal,
        handle: handle.clone(),
        source,
    };
    let pgid = Pid::from_raw(pid as i32);
    match nix::sys::signal::killpg(pgid, signal) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ESRCH) => match nix::sys::signal::kill(pgid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(failed(e)),
        },
        Err(e) => Err(failed(e)),
    }
}

/// Collect the exit status if `pid` is our child (restored by this process), so it does not
/// linger as a zombie that looks alive.
fn reap(pid: u32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG));
}

/// `go build ./cmd/NAME` into `binary`, through [`crate::gotool::run`] with its work folder
/// beside the binary: a stop ends the compilers and removes their temporary folders, and the
/// folders this build made go again when it left nothing in them.
pub(super) async fn build(
    dir: &Path,
    name: &str,
    binary: &Path,
    stop: &Stop,
) -> Result<(), FleetError> {
    let main = dir.join("cmd").join(name);
    if !main.is_dir() {
        return Err(FleetError::NotAService(main));
    }
    tracing::debug!(dir = %dir.display(), binary = %binary.display(), "go build ./cmd/{name}");
    let bin_dir = binary.parent().unwrap_or(dir);
    let made =
        crate::userfile::create_dir_all_undoable(bin_dir).map_err(|source| FleetError::Io {
            action: format!("creating {}", bin_dir.display()),
            source,
        })?;
    let mut cmd = tokio::process::Command::new("go");
    cmd.args(["build", "-o"])
        .arg(binary)
        .arg(format!("./cmd/{name}"))
        .current_dir(dir);
    let result = crate::gotool::run(&mut cmd, bin_dir, stop).await;
    if matches!(result, Ok(Some(ref out)) if out.status.success()) {
        made.keep();
    }
    let out = match result {
        Ok(Some(out)) => out,
        Ok(None) => return Err(FleetError::Stopped),
        Err(GoRunError::Go(source)) => return Err(FleetError::GoMissing(source)),
        Err(GoRunError::WorkFolder(source)) => {
            return Err(FleetError::Io {
                action: format!("creating a temporary folder in {}", bin_dir.display()),
                source,
            })
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        return Err(FleetError::BuildFailed {
            name: name.to_string(),
            tail: lines[lines.len().saturating_sub(5)..].join(" | "),
        });
    }
    Ok(())
}
