//! Reading a file the change could have written, bounded: a size cap checked before the
//! bytes are loaded (and again while reading, for a file that grows), only regular files
//! (a FIFO would block the reader for ever, a device never ends), and, where a root is given,
//! nothing a symbolic link takes outside it. Depends on nothing of faultline: `repo` (the
//! configuration, scenarios and CODEOWNERS of a working tree) and `stack` (`.dockerignore`
//! and the build contexts) use it.
//!
//! [`inside`] is the other half: whether a directory faultline writes into (reports, recorded
//! base results) resolves into the checkout, where a change could commit its own.
//!
//! The caps themselves belong to what is read: `config::MAX_CONFIG_BYTES`,
//! `scenario::MAX_SCENARIO_BYTES`, `plan::owners::MAX_CODEOWNERS_BYTES`,
//! `stack::image::MAX_DOCKERIGNORE_BYTES` and `stack::image::MAX_CONTEXT_BYTES`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Why a bounded read refused a file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReadError {
    #[error("{} is {} ({size} bytes): over the {} faultline reads from a change", path.display(), human(*size), human(*cap))]
    #[diagnostic(
        code(faultline::read::too_large),
        help(
            "a file over the limit is refused, never cut short: make it smaller (split the scenarios over several files)"
        )
    )]
    TooLarge { path: PathBuf, size: u64, cap: u64 },

    #[error("{} leads through a symbolic link to {}, outside {}: faultline does not follow links out of it", path.display(), target.display(), root.display())]
    #[diagnostic(code(faultline::read::outside), help("commit the file itself instead of a link to it"))]
    Outside { path: PathBuf, target: PathBuf, root: PathBuf },

    #[error("{} is {kind}, not a regular file: faultline reads only regular files", path.display())]
    #[diagnostic(code(faultline::read::not_a_file))]
    NotAFile { path: PathBuf, kind: &'static str },

    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(faultline::read::io))]
    Io { path: PathBuf, source: std::io::Error },
}

/// `n` bytes for people: `1 MiB`, `3000000 bytes`.
pub(crate) fn human(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// What kind of file `t` is, for a message: "a FIFO", "a directory", …
pub(crate) fn kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// The file at `path`, at most `cap` bytes, `None` when nothing is there. With `root`, the
/// path must resolve inside it (a link that leaves it is refused before anything is opened);
/// the file must be a regular file, which is checked before it is opened and again on the
/// opened descriptor (opened without following a last link and without blocking, so a file
/// swapped for a FIFO in between cannot hang the reader).
pub fn read(path: &Path, root: Option<&Path>, cap: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let io = |source| ReadError::Io { path: path.to_path_buf(), source };
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    }
    // Every link on the way resolved, then compared with the root resolved the same way.
    let real = std::fs::canonicalize(path).map_err(io)?;
    if let Some(root) = root {
        let root = std::fs::canonicalize(root).map_err(|source| ReadError::Io { path: root.to_path_buf(), source })?;
        if !real.starts_with(&root) {
            return Err(ReadError::Outside { path: path.to_path_buf(), target: real, root });
        }
    }
    let meta = std::fs::metadata(&real).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotAFile { path: path.to_path_buf(), kind: kind(meta.file_type()) });
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&real)
            .map_err(io)?
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotAFile { path: path.to_path_buf(), kind: kind(meta.file_type()) });
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: meta.len(), cap });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    let read = bytes.len() as u64;
    if read > cap {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: read, cap });
    }
    Ok(Some(bytes))
}

/// Where `dir` lies when it is inside `root`, whatever symlinks and `..` lead there: `(dir
/// resolved, root canonical)`; `None` when it lies outside (or `root` cannot be resolved).
/// The longest part of `dir` that exists is resolved by the file system, the rest by its
/// names. Reports and recorded base results must lie outside the checkout, where a change
/// could commit its own.
pub fn inside(dir: &Path, root: &Path) -> Option<(PathBuf, PathBuf)> {
    let root = root.canonicalize().ok()?;
    let resolved = resolve(dir);
    resolved.starts_with(&root).then_some((resolved, root))
}

/// `p` made absolute: its longest existing ancestor canonical, the components after it
/// applied by name (`..` drops the one before; none of them exists, so none is a link).
fn resolve(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let parts: Vec<Component<'_>> = abs.components().collect();
    for k in (0..=parts.len()).rev() {
        let prefix: PathBuf = parts[..k].iter().collect();
        let Ok(mut out) = prefix.canonicalize() else { continue };
        for c in &parts[k..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        return out;
    }
    abs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_links_and_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("small"), "abc").unwrap();
        std::fs::write(root.join("big"), vec![b'x'; 11]).unwrap();
        std::fs::write(dir.path().join("outside"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("small", root.join("in")).unwrap();
        assert_eq!(read(&root.join("small"), Some(&root), 10).unwrap().unwrap(), b"abc");
        assert_eq!(read(&root.join("in"), Some(&root), 10).unwrap().unwrap(), b"abc");
        assert!(read(&root.join("missing"), Some(&root), 10).unwrap().is_none());
        assert!(matches!(read(&root.join("big"), Some(&root), 10), Err(ReadError::TooLarge { size: 11, cap: 10, .. })));
        assert_eq!(read(&root.join("big"), Some(&root), 11).unwrap().unwrap().len(), 11);
        assert!(matches!(read(&root.join("out"), Some(&root), 10), Err(ReadError::Outside { .. })));
        assert!(read(&root.join("out"), None, 10).unwrap().is_some());
        assert!(matches!(read(&root, None, 10), Err(ReadError::NotAFile { kind: "a directory", .. })));
        assert!(matches!(read(Path::new("/dev/zero"), None, 10), Err(ReadError::NotAFile { .. })));
        let fifo = root.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(read(&fifo, Some(&root), 10), Err(ReadError::NotAFile { kind: "a FIFO (named pipe)", .. })));
        assert_eq!(human(1 << 20), "1 MiB");
        assert_eq!(human(2 << 30), "2 GiB");
        assert_eq!(human(3_000_000), "3000000 bytes");
    }
}
