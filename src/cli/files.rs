//! Reading the files a command is given: the spec, and the files the spec names
//! (`identityOutputs`). Only regular files are opened (a FIFO, a device or a folder is refused
//! from its metadata, before any open could block), each read to a stated limit, refused whole
//! beyond it before anything is read; and a file the spec names stays inside the spec's folder,
//! or the git repository holding it, unless `--allow-outside-paths` says otherwise.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The most an `identityOutputs` file may hold: a deployment's outputs are a few hundred bytes a
/// runner, so 4 MiB is some ten thousand runners' worth.
pub const MAX_OUTPUTS_BYTES: u64 = 4 * 1024 * 1024;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// A path the spec names that leads outside `root`.
    Outside {
        root: PathBuf,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::NotRegular(what) => {
                write!(
                    f,
                    "it is {what}, not a regular file; runnergen reads files only"
                )
            }
            ReadError::TooLarge { size, limit } => write!(
                f,
                "it is {size} bytes; runnergen reads at most {limit} bytes ({} MiB) here",
                limit / (1024 * 1024)
            ),
            ReadError::Outside { root } => write!(
                f,
                "it is outside {} (the spec's folder, or the git repository holding it); pass --allow-outside-paths to read it anyway",
                root.display()
            ),
        }
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        }
    }
}

/// What a file's metadata says it is, when not a regular file.
fn kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// The bytes of the regular file at `path` (a link is followed to one), at most `limit`: its
/// type and size are checked on the path before it is opened, and again on the open handle.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let check = |meta: &std::fs::Metadata| match kind(meta) {
        Some(what) => Err(ReadError::NotRegular(what)),
        None if meta.len() > limit => Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        }),
        None => Ok(()),
    };
    check(&std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    check(&file.metadata().map_err(ReadError::Io)?)?;
    let mut bytes = Vec::new();
    // A file that grew since its metadata was read is cut at one byte beyond the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// The files a spec names, read relative to its folder.
pub struct Named {
    folder: PathBuf,
    /// Where they must stay: the git repository holding the spec, else its folder (resolved);
    /// none with `--allow-outside-paths`.
    root: Option<PathBuf>,
}

impl Named {
    /// The files the spec at `spec` names; anywhere when `allow_outside`.
    pub fn of(spec: &Path, allow_outside: bool) -> Named {
        let folder = match spec.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let root = (!allow_outside).then(|| {
            let resolved = folder.canonicalize().unwrap_or_else(|_| folder.clone());
            resolved
                .ancestors()
                .find(|a| a.join(".git").exists())
                .unwrap_or(&resolved)
                .to_owned()
        });
        Named { folder, root }
    }

    /// The text of the file `name` (relative to the spec's folder): inside the root, links
    /// resolved, a regular file of at most `limit` bytes.
    pub fn read(&self, name: &str, limit: u64) -> io::Result<String> {
        let mut path = self.folder.join(name);
        if let Some(root) = &self.root {
            // Read where the check looked: the path with every link resolved.
            path = path.canonicalize()?;
            if !path.starts_with(root) {
                return Err(ReadError::Outside { root: root.clone() }.into());
            }
        }
        let bytes = read_bounded(&path, limit)?;
        String::from_utf8(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
    }
}
