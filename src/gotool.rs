//! Running the host's Go toolchain so that nothing of it outlives hale: `hale build` (native)
//! and `hale up` compile through [`run`].
//!
//! `go build` starts compilers and a linker as its own children and keeps its work folder
//! (`go-build*`) in GOTMPDIR, by default the system temp folder: killing `go` alone leaves
//! the compilers running and about 35 MB behind per interrupted cold build. So `go` runs in a
//! process group of its own with GOTMPDIR in a temporary folder hale owns; a stop sends the
//! group SIGINT (go ends its compilers and removes its work folder), then SIGKILL, and the
//! temporary folder is removed on every way out, including an early return or a panic.
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::stop::Stop;

/// How long `go` has to clean up after SIGINT before its process group is killed.
const GO_GRACE: Duration = Duration::from_millis(1500);

/// Kills the process group it holds when dropped: a build future dropped half-way (an error
/// beside it, a panic) takes the compilers with it.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// Why [`run`] could not run `go` to its end.
#[derive(Debug)]
pub enum GoRunError {
    /// The temporary folder could not be made in the folder given.
    WorkFolder(std::io::Error),
    /// `go` could not be started or waited for (`NotFound`: no `go` on PATH).
    Go(std::io::Error),
}

/// Run `cmd` (a `go` command) to the end, with GOTMPDIR in a temporary folder made in
/// `work_parent` (a folder hale owns: beside the build's output). `Ok(None)` if `stop` came
/// first: by then the process group has ended and the temporary folder is gone.
pub async fn run(
    cmd: &mut tokio::process::Command,
    work_parent: &Path,
    stop: &Stop,
) -> Result<Option<Output>, GoRunError> {
    let go_tmp = tempfile::Builder::new()
        .prefix(".go-tmp-")
        .tempdir_in(work_parent)
        .map_err(GoRunError::WorkFolder)?;
    cmd.env("GOTMPDIR", go_tmp.path())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(GoRunError::Go)?;
    let mut guard = GroupGuard(child.id().map(|pid| Pid::from_raw(pid as i32)));
    let waited = child.wait_with_output();
    tokio::pin!(waited);
    let outcome = tokio::select! {
        out = &mut waited => Some(out.map_err(GoRunError::Go)?),
        () = stop.stopped() => {
            if let Some(group) = guard.0 {
                let _ = killpg(group, Signal::SIGINT);
                let ended = tokio::time::timeout(GO_GRACE, &mut waited).await.is_ok();
                // Whatever is left of the group (`go` past its grace, a child that ignores
                // SIGINT) is killed; the group's id stays taken while any member lives.
                let _ = killpg(group, Signal::SIGKILL);
                if !ended {
                    let _ = tokio::time::timeout(GO_GRACE, &mut waited).await;
                }
            }
            None
        }
    };
    // `go` has been waited for: its pid (the group's id) may be reused, so the guard must not
    // signal it. A compiler still running after `go` ended normally does not happen.
    guard.0 = None;
    drop(go_tmp);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `go build`: a shell that starts a child in its group, writes into
    /// GOTMPDIR and waits. A stop ends both and removes the temporary folder.
    #[tokio::test]
    async fn a_stop_ends_the_whole_group_and_removes_the_work_folder() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(format!(
            "mkdir \"$GOTMPDIR/go-build1\"; sleep 60 & echo $$ $! > {}; wait",
            pids.display()
        ));
        let stop = Stop::new();
        let stopper = stop.clone();
        let watched = pids.clone();
        tokio::spawn(async move {
            while std::fs::read_to_string(&watched).map_or(true, |t| !t.ends_with('\n')) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stopper.stop();
        });
        let out = run(&mut cmd, dir.path(), &stop).await.unwrap();
        assert!(out.is_none());
        let text = std::fs::read_to_string(&pids).unwrap();
        for pid in text.split_whitespace() {
            let pid = Pid::from_raw(pid.parse().unwrap());
            // Gone, or at most a zombie of an exited parent that nothing reaps yet.
            let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                status.is_empty() || status.contains(") Z "),
                "{pid} still runs: {status}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "pids")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn a_finished_command_returns_its_output_and_leaves_no_work_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg("test -d \"$GOTMPDIR\" && echo ok");
        let out = run(&mut cmd, dir.path(), &Stop::new())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"ok\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
