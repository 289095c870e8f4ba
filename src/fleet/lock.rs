//! The fleet lock: one `hale up`, `hale down` or fault at a time changes a fleet.
use std::path::Path;

use super::{io, FleetError, FleetState, STATE_DIR};

/// The lock file that `hale up` and `hale down` hold while they change a fleet.
pub const LOCK_FILE: &str = "fleet.lock";

/// An exclusive `flock` on `.hale/fleet.lock`, held while a command changes the fleet: a second
/// `hale up` or `hale down` in the same folder refuses (it does not wait). The holder writes its
/// pid into the file, for the refusal to name it. Released when dropped (or the process exits).
#[derive(Debug)]
pub struct FleetLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl FleetLock {
    /// Take the lock of the fleet in `dir` (absolute), creating `.hale/` if needed.
    pub fn take(dir: &Path) -> Result<FleetLock, FleetError> {
        let state_dir = dir.join(STATE_DIR);
        crate::userfile::create_dir_all(&state_dir)
            .map_err(io(format!("creating {}", state_dir.display())))?;
        let mut lock = Self::lock(dir, true)?;
        lock.announce(dir)?;
        Ok(lock)
    }

    /// Take the lock of a fleet that exists: nothing is created, so acting on a fleet that
    /// `hale down` just removed fails with [`FleetError::NoFleet`] and leaves nothing behind
    /// (`hale down` removes fleet.json before it lets go of the lock, so the caller's read of
    /// fleet.json under this lock says so). Two system calls: a kill fault sends its signal
    /// right after, and [`FleetLock::announce`] can follow it.
    pub fn take_existing(dir: &Path) -> Result<FleetLock, FleetError> {
        Self::lock(dir, false)
    }

    /// Write this process's pid into the lock file, for a refused `hale up`/`down` to name.
    pub fn announce(&mut self, dir: &Path) -> Result<(), FleetError> {
        use std::os::unix::fs::FileExt as _;
        let path = dir.join(STATE_DIR).join(LOCK_FILE);
        let text = format!("{}\n", std::process::id());
        let write = |f: &std::fs::File| -> std::io::Result<()> {
            f.write_all_at(text.as_bytes(), 0)?;
            f.set_len(text.len() as u64)
        };
        write(&self._lock).map_err(io(format!("writing {}", path.display())))
    }

    fn lock(dir: &Path, create: bool) -> Result<FleetLock, FleetError> {
        use std::io::Read as _;
        let path = dir.join(STATE_DIR).join(LOCK_FILE);
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(&path)
        {
            Ok(f) => f,
            Err(source) if !create && source.kind() == std::io::ErrorKind::NotFound => {
                // A fleet started before the lock existed has fleet.json and no lock file.
                if FleetState::path(dir).exists() {
                    return Self::lock(dir, true);
                }
                return Err(FleetError::NoFleet {
                    dir: dir.to_path_buf(),
                    path: FleetState::path(dir),
                    source,
                });
            }
            Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
        };
        let lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(FleetError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path,
                    holder: text.trim().parse().ok(),
                });
            }
            Err((_, errno)) => {
                return Err(FleetError::Io {
                    action: format!("locking {}", path.display()),
                    source: errno.into(),
                })
            }
        };
        Ok(FleetLock { _lock: lock })
    }
}
