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
use std::path::{Path, PathBuf};

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
    #[error("{path}:{line}:{col}: {}", too_deep())]
    TooDeep {
        path: String,
        line: usize,
        col: usize,
    },
}

/// The deepest nesting of collections (mappings and sequences) hale accepts in a YAML file:
/// manifests for `--check` and kubeconfigs. The deepest real documents hale meets, the
/// Prometheus operator's CRDs, nest 27 levels; 64 is also where kube's kubeconfig parser
/// stops, so every YAML file hale reads has one limit and one message.
pub const YAML_MAX_DEPTH: usize = 64;

/// Refuse a YAML text nested deeper than [`YAML_MAX_DEPTH`], naming `path` and where it goes
/// too deep.
///
/// The check streams parser events and stops at the first collection past the limit, so it is
/// linear in the text; libyaml (behind `serde_norway`) builds every event of a document before
/// its own recursion limit applies, and takes quadratic time on deeply nested flow mappings
/// (100k levels of `{a: ` took 96 s). Text the streaming parser cannot read is bounded by its
/// brackets instead: that count never under-states flow nesting (it may over-state it, only
/// in text the parser already found malformed), and the YAML parser then reports the syntax
/// error in its own words.
pub fn check_yaml_depth(path: &str, text: &str) -> std::io::Result<()> {
    match yaml_too_deep_at(text) {
        Some((line, col)) => Err(refused(Refused::TooDeep {
            path: path.to_string(),
            line,
            col,
        })),
        None => Ok(()),
    }
}

/// Why a YAML text past [`YAML_MAX_DEPTH`] is refused, for callers that name the file
/// themselves.
pub fn too_deep() -> String {
    format!(
        "nested more than {YAML_MAX_DEPTH} levels deep; hale reads YAML up to {YAML_MAX_DEPTH} levels (real manifests nest under 30): check that this is the right file"
    )
}

/// The line and column (1-based) where `text` nests past [`YAML_MAX_DEPTH`], if it does.
pub fn yaml_too_deep_at(text: &str) -> Option<(usize, usize)> {
    use granit_parser::Event;
    let mut depth = 0usize;
    for item in granit_parser::Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            return too_many_brackets(text);
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > YAML_MAX_DEPTH {
                    return Some((span.start.line(), span.start.col() + 1));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The line and column of the first `[`/`{` in `text` that opens more than [`YAML_MAX_DEPTH`]
/// at once, quotes and comments not considered.
fn too_many_brackets(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (line, l) in text.lines().enumerate() {
        for (col, c) in l.chars().enumerate() {
            match c {
                '[' | '{' => {
                    depth += 1;
                    if depth > YAML_MAX_DEPTH {
                        return Some((line + 1, col + 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
}

/// `std::fs::create_dir_all`, with a file on the way refused in words ("f is a file, not a
/// folder, so f/sub cannot be created") instead of `File exists`, and exit 2.
pub fn create_dir_all(path: impl AsRef<Path>) -> std::io::Result<()> {
    let path = path.as_ref();
    std::fs::create_dir_all(path).map_err(|e| file_on_the_way(path, e))
}

/// [`create_dir_all`] for work that may stop half-way: the folders it made (none that existed
/// before) are removed again, deepest first and only while empty, when the returned
/// [`MadeFolders`] is dropped without [`MadeFolders::keep`]. An interrupted build leaves no
/// empty `.hale/image/bin/` behind.
pub fn create_dir_all_undoable(path: impl AsRef<Path>) -> std::io::Result<MadeFolders> {
    let path = path.as_ref();
    let missing = path
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    create_dir_all(path)?;
    Ok(MadeFolders(missing))
}

/// The folders [`create_dir_all_undoable`] made, deepest first.
#[derive(Debug)]
#[must_use = "dropped at once, it removes the folders again"]
pub struct MadeFolders(Vec<PathBuf>);

impl MadeFolders {
    /// The work went through: the folders stay.
    pub fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for MadeFolders {
    fn drop(&mut self) {
        for dir in &self.0 {
            // Fails, and so keeps it, when something was written into it.
            let _ = std::fs::remove_dir(dir);
        }
    }
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
    fn yaml_deeper_than_the_limit_is_refused_where_it_goes_too_deep() {
        // `a: ` and the first `- ` are one level.
        let nested = |n: usize, open: &str, close: &str| {
            let first = if open == "- " { "- " } else { "a: " };
            format!("{first}{}x{}\n", open.repeat(n - 1), close.repeat(n - 1))
        };
        for (open, close) in [("{a: ", "}"), ("[", "]"), ("- ", "")] {
            let ok = nested(YAML_MAX_DEPTH, open, close);
            check_yaml_depth("ok.yaml", &ok).unwrap();
            let err = check_yaml_depth("deep.yaml", &nested(100_000, open, close)).unwrap_err();
            assert!(is_refusal(&err), "{err}");
            let line = err.to_string();
            assert!(line.starts_with("deep.yaml:1:"), "{line}");
            assert!(line.contains("more than 64 levels"), "{line}");
        }
        // Malformed text is left to the YAML parser's own message, unless its brackets alone
        // nest too deep.
        check_yaml_depth("bad.yaml", "a: b: c\n").unwrap();
        let err = check_yaml_depth("bad.yaml", &format!("\t: {}", "{".repeat(100))).unwrap_err();
        assert!(
            err.to_string().starts_with("bad.yaml:1:68: nested"),
            "{err}"
        );
    }

    #[test]
    fn folders_made_for_work_that_stopped_are_removed_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".hale")).unwrap();
        let deep = dir.path().join(".hale/image/bin");
        drop(create_dir_all_undoable(&deep).unwrap());
        assert!(!dir.path().join(".hale/image").exists());
        assert!(dir.path().join(".hale").is_dir(), "it was there before");
        let made = create_dir_all_undoable(&deep).unwrap();
        std::fs::write(deep.join("orders"), "binary").unwrap();
        drop(made);
        assert!(deep.join("orders").exists(), "a folder with files stays");
        std::fs::remove_file(deep.join("orders")).unwrap();
        create_dir_all_undoable(dir.path().join(".hale/other"))
            .unwrap()
            .keep();
        assert!(dir.path().join(".hale/other").is_dir());
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
