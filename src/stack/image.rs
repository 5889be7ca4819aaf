//! Images: `build:` services are built from their Dockerfile context and tagged by a hash of
//! the context's content, so an unchanged service is never rebuilt and a changed one always
//! is; `image:` services use their reference (pulled by the engine only if missing).
//!
//! Builds go through the engine client testcontainers uses, with the build's output
//! captured: testcontainers' own builder only logs it, and a failed build must show it.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::BuildImageOptionsBuilder;

use super::StackError;

/// An image to run: repository and tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    pub name: String,
    pub tag: String,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl ImageRef {
    /// Splits `name[:tag]` (a registry port is not a tag).
    pub(crate) fn parse(reference: &str) -> ImageRef {
        match reference.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => ImageRef { name: n.to_owned(), tag: t.to_owned() },
            _ => ImageRef { name: reference.to_owned(), tag: "latest".to_owned() },
        }
    }
}

/// The most faultline reads of a build context's `.dockerignore`.
pub const MAX_DOCKERIGNORE_BYTES: u64 = crate::dockerignore::MAX_BYTES;

/// The most a build context may hold (after `.dockerignore`): faultline hashes it and sends
/// it to the engine from memory. A bigger one is refused, naming the file that crossed it.
pub const MAX_CONTEXT_BYTES: u64 = 2 << 30;

/// Files of a build context, sorted, after its `.dockerignore` as Docker reads it
/// ([`crate::dockerignore`], the rules the plan judges a change by too).
/// Only directories, regular files and links are part of a context: a FIFO, a socket or a
/// device in it is an error (reading a FIFO would block for ever), and so is a context over
/// [`MAX_CONTEXT_BYTES`]. The `.dockerignore` itself is read bounded, and refused when it is
/// a link out of the context.
fn context_files(dir: &Path) -> Result<Vec<PathBuf>, StackError> {
    let io = |p: &Path, e: std::io::Error| StackError::Context { dir: p.to_path_buf(), reason: e.to_string() };
    let ignore_bytes = crate::bounded::read(&dir.join(".dockerignore"), Some(dir), MAX_DOCKERIGNORE_BYTES)?;
    let ignore = crate::dockerignore::DockerIgnore::parse(&String::from_utf8_lossy(&ignore_bytes.unwrap_or_default()));
    // An excluded directory is looked into only when an exception could take a file back.
    let look_inside = ignore.has_exceptions();
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let entry = entry.map_err(|e| io(&d, e))?;
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let excluded = ignore.excludes(&rel.to_string_lossy());
            let ty = entry.file_type().map_err(|e| io(&path, e))?;
            if ty.is_dir() {
                if !excluded || look_inside {
                    pending.push(path);
                }
                continue;
            }
            if excluded {
                continue;
            }
            if ty.is_file() {
                total += entry.metadata().map_err(|e| io(&path, e))?.len();
                if total > MAX_CONTEXT_BYTES {
                    return Err(StackError::ContextTooLarge {
                        dir: dir.to_path_buf(),
                        at: path,
                        cap: MAX_CONTEXT_BYTES,
                    });
                }
            } else if !ty.is_symlink() {
                return Err(crate::bounded::ReadError::NotAFile { kind: crate::bounded::kind(ty), path }.into());
            }
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// A regular file of a build context, whole: [`context_files`] has bounded the context,
/// and the file must still be a regular file when it is opened.
fn context_file(path: &Path) -> Result<Vec<u8>, StackError> {
    crate::bounded::read(path, None, MAX_CONTEXT_BYTES)?
        .ok_or_else(|| StackError::Context { dir: path.to_path_buf(), reason: "it vanished while being read".into() })
}

/// A hash of every file's path, mode and content in the context.
pub(crate) fn context_hash(dir: &Path) -> Result<String, StackError> {
    let mut h = Sha256::new();
    for path in context_files(dir)? {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| StackError::Context { dir: path.clone(), reason: e.to_string() })?;
        #[cfg(unix)]
        h.update(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()).to_le_bytes());
        if meta.file_type().is_symlink() {
            h.update(
                std::fs::read_link(&path).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default().as_bytes(),
            );
        } else {
            let bytes = context_file(&path)?;
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
    }
    Ok(h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// How one image is built: its context, its Dockerfile when it is not the context's own,
/// its build arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Build {
    pub dir: PathBuf,
    /// `dockerfile:` as written (relative to the repository root) and its bytes.
    pub dockerfile: Option<(String, Vec<u8>)>,
    pub args: std::collections::BTreeMap<String, String>,
}

/// The name under which a `dockerfile:` is sent with the context (Docker's own CLI does
/// the same for a Dockerfile outside the context).
const SENT_DOCKERFILE: &str = ".faultline.Dockerfile";

/// The most faultline reads of a `dockerfile:`.
pub const MAX_DOCKERFILE_BYTES: u64 = 1 << 20;

impl Build {
    /// The build of `svc` under `root` (`build:` set): its `dockerfile:` read bounded, and
    /// never through a link out of the repository.
    pub(crate) fn of(root: &Path, context: &str, svc: &crate::config::Service) -> Result<Build, StackError> {
        let dockerfile = match &svc.dockerfile {
            Some(d) => {
                let path = root.join(d);
                let bytes = crate::bounded::read(&path, Some(root), MAX_DOCKERFILE_BYTES)?.ok_or_else(|| {
                    StackError::Context { dir: path.clone(), reason: "the `dockerfile` is not in the checkout".into() }
                })?;
                Some((d.clone(), bytes))
            }
            None => None,
        };
        Ok(Build { dir: root.join(context), dockerfile, args: svc.build_args.clone() })
    }

    /// A hash of the context, the Dockerfile and the arguments: what the image is built from.
    fn hash(&self) -> Result<String, StackError> {
        let context = context_hash(&self.dir)?;
        if self.dockerfile.is_none() && self.args.is_empty() {
            return Ok(context);
        }
        let mut h = Sha256::new();
        h.update(context.as_bytes());
        if let Some((name, bytes)) = &self.dockerfile {
            h.update([1]);
            h.update(name.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        for (k, v) in &self.args {
            h.update([2]);
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        Ok(h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect())
    }
}

/// The image of a `build:` context: `faultline/<context path>:<hash>`, the hash of the
/// context's content, the `dockerfile:` and the build arguments, so services built alike
/// share the image and a change to any of them builds another.
/// A context at the root of the repository (`.`) is `faultline/root`: a repository name
/// must have at least one letter or digit, and only lower-case words joined by `-`.
pub(crate) fn built_ref(context: &str, build: &Build) -> Result<ImageRef, StackError> {
    Ok(ImageRef { name: format!("faultline/{}", image_name(context)), tag: build.hash()? })
}

fn image_name(context: &str) -> String {
    let words: Vec<String> = context
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    if words.is_empty() { "root".to_owned() } else { words.join("-") }
}

pub(crate) async fn exists(docker: &Docker, image: &ImageRef) -> bool {
    docker.inspect_image(&image.to_string()).await.is_ok()
}

/// The label faultline puts on every image it builds: the hash of the build context it was
/// built from (the image's tag). An image under faultline's tag without it, or with another
/// hash, was not built by faultline from that context.
pub(crate) const CONTEXT_LABEL: &str = "faultline.context";

/// Builds `dir` as `image` unless that tag exists. Returns whether it built. An existing
/// image under the tag must carry the context's hash in [`CONTEXT_LABEL`]: a stale cache, a
/// retagged image or one built by something else cannot stand in for the code under test.
pub(crate) async fn ensure_built(
    docker: &Docker,
    service: &str,
    build: &Build,
    image: &ImageRef,
) -> Result<bool, StackError> {
    let dir = build.dir.as_path();
    if let Ok(found) = docker.inspect_image(&image.to_string()).await {
        let label = found.config.and_then(|c| c.labels).and_then(|mut l| l.remove(CONTEXT_LABEL));
        return match label {
            Some(hash) if hash == image.tag => Ok(false),
            other => Err(StackError::ForeignImage {
                service: service.to_owned(),
                image: image.to_string(),
                found: match other {
                    Some(hash) => format!("its label {CONTEXT_LABEL} says it was built from a context hashed {hash}"),
                    None => format!("it has no {CONTEXT_LABEL} label"),
                },
            }),
        };
    }
    let context = tar_context(dir, build.dockerfile.as_ref().map(|(_, b)| b.as_slice()))?;
    let labels = std::collections::HashMap::from([(CONTEXT_LABEL, image.tag.as_str())]);
    let args: std::collections::HashMap<&str, &str> =
        build.args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut opts = BuildImageOptionsBuilder::new().t(&image.to_string()).labels(&labels).rm(true).forcerm(true);
    if build.dockerfile.is_some() {
        opts = opts.dockerfile(SENT_DOCKERFILE);
    }
    if !args.is_empty() {
        opts = opts.buildargs(&args);
    }
    let opts = opts.build();
    let mut stream = docker.build_image(opts, None, Some(testcontainers::bollard::body_full(context.into())));
    let mut log = String::new();
    let fail = |log: &str, reason: String| StackError::Build {
        service: service.to_owned(),
        dir: dir.to_path_buf(),
        reason,
        log: tail(log, 40),
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.stream {
                    log.push_str(&s);
                }
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(fail(&log, e));
                }
            }
            Err(e) => return Err(fail(&log, e.to_string())),
        }
    }
    if !exists(docker, image).await {
        return Err(fail(&log, "the build ended without producing the image".into()));
    }
    tracing::info!(%service, %image, "image built");
    Ok(true)
}

/// The context as a tar, with `dockerfile` (a `dockerfile:`'s bytes) added as
/// [`SENT_DOCKERFILE`].
fn tar_context(dir: &Path, dockerfile: Option<&[u8]>) -> Result<Vec<u8>, StackError> {
    let err = |e: std::io::Error| StackError::Context { dir: dir.to_path_buf(), reason: e.to_string() };
    let mut b = tar::Builder::new(Vec::new());
    for path in context_files(dir)? {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let meta = std::fs::symlink_metadata(&path).map_err(err)?;
        // Plain entries written from the content: the engine rejects GNU sparse entries,
        // which a sparse file (a linked binary, often) would otherwise become.
        let mut h = tar::Header::new_gnu();
        #[cfg(unix)]
        h.set_mode(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777);
        if meta.file_type().is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let target = std::fs::read_link(&path).map_err(err)?;
            b.append_link(&mut h, rel, target).map_err(err)?;
        } else {
            let data = context_file(&path)?;
            h.set_size(data.len() as u64);
            b.append_data(&mut h, rel, data.as_slice()).map_err(err)?;
        }
    }
    if let Some(bytes) = dockerfile {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        b.append_data(&mut h, SENT_DOCKERFILE, bytes).map_err(err)?;
    }
    b.into_inner().map_err(err)
}

/// The last `n` lines of `s`.
pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{MAX_CONTEXT_BYTES, context_files, context_hash};
    use crate::bounded::ReadError;
    use crate::stack::StackError;

    /// A build context the change wrote holds only what can be read without blocking and
    /// within bounds: a FIFO, a `.dockerignore` that leads out of the context, or a context
    /// over the cap is an error naming the file, before anything blocks or fills memory.
    #[test]
    fn a_context_with_a_fifo_a_link_out_or_too_many_bytes_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink("Dockerfile", dir.path().join("link")).unwrap();
        assert_eq!(context_files(dir.path()).unwrap().len(), 2);
        assert!(context_hash(dir.path()).is_ok());

        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let err = context_hash(dir.path()).unwrap_err();
        assert!(matches!(&err, StackError::Read(ReadError::NotAFile { path, .. }) if *path == fifo), "{err}");
        std::fs::write(dir.path().join(".dockerignore"), "pipe\n").unwrap();
        assert!(context_hash(dir.path()).is_ok(), "an ignored FIFO is not part of the context");
        std::fs::remove_file(dir.path().join(".dockerignore")).unwrap();
        std::fs::remove_file(&fifo).unwrap();

        std::fs::write(outside.path().join("ignore"), "*\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("ignore"), dir.path().join(".dockerignore")).unwrap();
        let err = context_hash(dir.path()).unwrap_err();
        assert!(matches!(&err, StackError::Read(ReadError::Outside { .. })), "{err}");
        std::fs::remove_file(dir.path().join(".dockerignore")).unwrap();

        // A sparse file: its length counts, not the disk it takes.
        let big = std::fs::File::create(dir.path().join("big")).unwrap();
        big.set_len(MAX_CONTEXT_BYTES + 1).unwrap();
        let err = context_hash(dir.path()).unwrap_err();
        assert!(matches!(&err, StackError::ContextTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("holds more than 2 GiB"), "{err}");
    }

    #[test]
    fn every_context_makes_a_valid_image_name() {
        for (context, name) in [
            (".", "root"),
            ("./", "root"),
            ("..", "root"),
            ("services/Payments", "services-payments"),
            ("a/./b_c", "a-b-c"),
        ] {
            assert_eq!(super::image_name(context), name, "{context}");
        }
    }

    use super::*;

    #[test]
    fn hash_changes_with_content_and_names_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/a.txt"), "a").unwrap();
        let h1 = context_hash(d.path()).unwrap();
        assert_eq!(h1, context_hash(d.path()).unwrap());
        std::fs::write(d.path().join("src/a.txt"), "b").unwrap();
        let h2 = context_hash(d.path()).unwrap();
        assert_ne!(h1, h2);
        std::fs::rename(d.path().join("src/a.txt"), d.path().join("src/c.txt")).unwrap();
        assert_ne!(h2, context_hash(d.path()).unwrap());
        std::fs::write(d.path().join(".dockerignore"), "target\n").unwrap();
        let h3 = context_hash(d.path()).unwrap();
        std::fs::create_dir(d.path().join("target")).unwrap();
        std::fs::write(d.path().join("target/big"), "ignored").unwrap();
        assert_eq!(h3, context_hash(d.path()).unwrap());
    }

    #[test]
    fn references() {
        assert_eq!(ImageRef::parse("redis:7"), ImageRef { name: "redis".into(), tag: "7".into() });
        assert_eq!(
            ImageRef::parse("registry:5000/app"),
            ImageRef { name: "registry:5000/app".into(), tag: "latest".into() }
        );
    }
}
