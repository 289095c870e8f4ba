//! The one way hale reads a file a user (or a repository they cloned) supplied: hale.toml,
//! hale.lock, `.hale/` state, the file registry, `--body-file`, `--merge` inputs, manifests for
//! `--check`, records.
//!
//! Only regular files are read. A FIFO, a device (a link to `/dev/zero`), a socket or a folder
//! is refused in one line, and the refusal never blocks: the file is opened non-blocking (a FIFO
//! with no writer would otherwise hold `open` forever) and checked with `fstat` before any byte
//! is read. Each kind of file has a size limit that fits it (a 100 MiB hale.toml is a mistake),
//! checked against the size and enforced while reading, so a file that grows is caught too.
//!
//! Refusals are `std::io::Error`s wrapping a [`Refused`], so every caller keeps its own error
//! type; [`crate::exit::classify`] finds the `Refused` inside and exits 2.
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// What a file is for, and the most hale reads of it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub what: &'static str,
    pub max: u64,
}

const MIB: u64 = 1024 * 1024;

impl Limit {
    /// hale.toml, kubeconfig-sized settings.
    pub const CONFIG: Limit = Limit {
        what: "a settings file",
        max: MIB,
    };
    /// hale.lock, the render record, `.hale/build.json`.
    pub const RECORD: Limit = Limit {
        what: "a record hale writes",
        max: 8 * MIB,
    };
    /// `.hale/fleet.json`, the file registry.
    pub const STATE: Limit = Limit {
        what: "a state file",
        max: 16 * MIB,
    };
    /// Kubernetes manifests for `--check`, files of a service for `--merge`.
    pub const SOURCE: Limit = Limit {
        what: "a source or manifest file",
        max: 16 * MIB,
    };
    /// A request body (`--body-file`).
    pub const BODY: Limit = Limit {
        what: "a request body",
        max: 64 * MIB,
    };
    /// Exported histograms for `hale load --merge`.
    pub const HISTOGRAMS: Limit = Limit {
        what: "a histogram export",
        max: 256 * MIB,
    };
}

/// A file hale will not read, and why.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{path} is {kind}, not a regular file: give the path of a file")]
    NotAFile { path: String, kind: &'static str },
    #[error(
        "{path} is larger than {max} MiB, too large for {what}: check that this is the right file"
    )]
    TooLarge {
        path: String,
        what: &'static str,
        max: u64,
    },
    #[error("{path} is not UTF-8 text (a binary file?): give the path of a text file")]
    NotText { path: String },
    #[error(
        "{blocker} is a file where a folder is needed{on_the_way}: move it, or give another path"
    )]
    NotAFolder { blocker: String, on_the_way: String },
}

/// `std::fs::create_dir_all`, with a file on the way refused in words ("f is a file, not a
/// folder, so f/sub cannot be created") instead of `File exists`, and exit 2.
pub fn create_dir_all(path: impl AsRef<Path>) -> std::io::Result<()> {
    let path = path.as_ref();
    std::fs::create_dir_all(path).map_err(|e| file_on_the_way(path, e))
}

/// `Not a directory` from an open or a create: the file that stands where a folder is needed,
/// named, as a refusal; any other error as it is.
fn file_on_the_way(path: &Path, e: std::io::Error) -> std::io::Error {
    if !matches!(
        e.kind(),
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory
    ) {
        return e;
    }
    match path
        .ancestors()
        .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()))
    {
        Some(b) => refused(Refused::NotAFolder {
            blocker: b.display().to_string(),
            on_the_way: if b == path {
                String::new()
            } else {
                format!(" (on the way to {})", path.display())
            },
        }),
        None => e,
    }
}

fn refused(r: Refused) -> std::io::Error {
    std::io::Error::other(r)
}

/// Whether `err` is one of this module's refusals (the user's file, exit 2).
pub fn is_refusal(err: &std::io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<Refused>())
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Read `path` whole, if it is a regular file within `limit`.
pub fn read(path: &Path, limit: Limit) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| file_on_the_way(path, e))?;
    let meta = file.metadata()?;
    let show = || path.display().to_string();
    if !meta.file_type().is_file() {
        return Err(refused(Refused::NotAFile {
            path: show(),
            kind: kind_of(meta.file_type()),
        }));
    }
    let too_large = || {
        refused(Refused::TooLarge {
            path: show(),
            what: limit.what,
            max: limit.max / MIB,
        })
    };
    if meta.len() > limit.max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text; invalid UTF-8 is refused ([`Refused::NotText`]) naming the file.
pub fn read_to_string(path: &Path, limit: Limit) -> std::io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|_| {
        refused(Refused::NotText {
            path: path.display().to_string(),
        })
    })
}

/// [`read`], with a missing file as `None`.
pub fn read_optional(path: &Path, limit: Limit) -> std::io::Result<Option<Vec<u8>>> {
    match read(path, limit) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_device_and_a_folder_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("hale.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(&fifo, Limit::CONFIG).unwrap_err();
        assert!(is_refusal(&err), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        let zero = dir.path().join("hale.lock");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read(&zero, Limit::RECORD).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        let err = read(dir.path(), Limit::CONFIG).unwrap_err();
        assert!(err.to_string().contains("a folder"), "{err}");
    }

    #[test]
    fn a_file_over_its_limit_is_refused_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("hale.toml");
        std::fs::write(&big, vec![b'#'; (MIB + 1) as usize]).unwrap();
        let err = read(&big, Limit::CONFIG).unwrap_err();
        assert!(is_refusal(&err));
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        assert!(read_optional(&dir.path().join("none"), Limit::CONFIG)
            .unwrap()
            .is_none());
        std::fs::write(&big, "name = \"orders\"\n").unwrap();
        assert_eq!(
            read_to_string(&big, Limit::CONFIG).unwrap(),
            "name = \"orders\"\n"
        );
    }
}
