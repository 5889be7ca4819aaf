//! faultline's init (`init.c`, built by `build.rs`): the first process of a service's
//! container, with the image's own entrypoint and command as its only child, so a reset can
//! bring a service back as a fresh process in the same running container. Starting a
//! container again costs the engine a new filesystem mount (a `fuse-overlayfs` process on
//! these machines), a network namespace, its DNS and port rules and a port proxy: most of a
//! reset's time and CPU. Killing the processes in it and starting the program again costs
//! two signals.
//!
//! What the service sees does not change: the init passes on a signal only when the program
//! catches it and drops it otherwise, as the kernel does for a container's first process,
//! exits with the program's code when the program exits, and writes and prints nothing.
//! The init is copied into the container when it is created (it is then part of what a fresh
//! container holds), so the proof of a restart in place (`reset::restart`: the writable layer
//! holds nothing else, read on the host) is unchanged, and nothing is mounted.
//!
//! Only services whose container can be restarted in place at all get it (readiness not a
//! log line, no rendered `files:`), and only when the image names what it runs.

use std::path::Path;
use std::time::{Duration, Instant};

/// The init, empty when `build.rs` could not build it.
static BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/faultline-init"));

/// Where the init is in a container.
pub(crate) const PATH: &str = "/.faultline-init";

/// The signal that kills every process of the container but the init.
const STOP_ALL: &str = "36";
/// The signal that starts the program again.
const START: &str = "37";

/// Why the init could not stop or start the service (a reset then creates it again).
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error("signal {signal} to its init: {source}")]
    Signal { signal: &'static str, source: testcontainers::bollard::errors::Error },
    #[error("processes {0} still run 10 s after the kill")]
    Lingering(String),
    #[error("cannot read {path}: {source}")]
    Proc { path: String, source: std::io::Error },
}

/// Whether the init is the first process of the container `inspect` describes.
pub(crate) fn runs_first(inspect: &testcontainers::bollard::models::ContainerInspectResponse) -> bool {
    inspect.path.as_deref() == Some(PATH)
}

/// Programs that must be a container's first process (s6-overlay's `/init` refuses to run
/// otherwise, a system manager expects it): their images run as they are.
const FIRST_ONLY: [&str; 5] = ["init", "systemd", "s6-svscan", "runsvdir", "my_init"];

/// The container's command line with the init first, when the init exists and the image
/// names a program that may run as another's child; `None` runs the image as it is.
pub(crate) fn wrap(entrypoint: &[String], cmd: &[String]) -> Option<Vec<String>> {
    if BINARY.is_empty() {
        return None;
    }
    let program: Vec<String> = entrypoint.iter().chain(cmd).cloned().collect();
    let first = Path::new(program.first()?).file_name()?.to_string_lossy().into_owned();
    (!FIRST_ONLY.contains(&first.as_str())).then_some(program)
}

/// The init's bytes, to copy into a container.
pub(crate) fn binary() -> &'static [u8] {
    BINARY
}

/// Whether `path` (an entry of a writable layer, on the host) is what copying the init in
/// at the container's creation left there: the init itself, unchanged, or what is left of
/// the directory the engine's archive extraction pivots into (`/.pivot_root` and digits):
/// under `fuse-overlayfs`, a whiteout (a character device 0:0, which hides a name no layer
/// below has) or the empty directory. Every container created so holds one; the container
/// sees nothing of a whiteout.
pub(crate) fn left_by_the_copy(path: &Path, upper: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(upper) else { return false };
    let name = inside.to_string_lossy();
    if Path::new("/").join(inside) == Path::new(PATH) {
        return std::fs::read(path).is_ok_and(|b| !b.is_empty() && b == BINARY);
    }
    name.strip_prefix(".pivot_root").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            (m.file_type().is_char_device() && m.rdev() == 0)
                || (m.is_dir() && std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none()))
        })
}

/// Kills every process of the container whose init is host process `pid`, and waits until
/// none is left (the init's children, read in the host's `/proc`).
pub(crate) async fn stop_all(docker: &testcontainers::bollard::Docker, id: &str, pid: i64) -> Result<(), InitError> {
    signal(docker, id, STOP_ALL).await?;
    let children = format!("/proc/{pid}/task/{pid}/children");
    let t = Instant::now();
    loop {
        match tokio::fs::read_to_string(&children).await {
            Ok(s) if s.trim().is_empty() => return Ok(()),
            Ok(_) if t.elapsed() < Duration::from_secs(10) => tokio::time::sleep(Duration::from_millis(5)).await,
            Ok(s) => return Err(InitError::Lingering(s.trim().to_owned())),
            Err(source) => return Err(InitError::Proc { path: children, source }),
        }
    }
}

/// Starts the program again in a container whose processes [`stop_all`] killed.
pub(crate) async fn start(docker: &testcontainers::bollard::Docker, id: &str) -> Result<(), InitError> {
    signal(docker, id, START).await
}

async fn signal(docker: &testcontainers::bollard::Docker, id: &str, signal: &'static str) -> Result<(), InitError> {
    let opts = testcontainers::bollard::query_parameters::KillContainerOptionsBuilder::default().signal(signal).build();
    docker.kill_container(id, Some(opts)).await.map_err(|source| InitError::Signal { signal, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_runs_the_images_entrypoint_then_its_command() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
        if BINARY.is_empty() {
            assert_eq!(wrap(&s(&["a"]), &[]), None, "no init built: the image runs as it is");
            return;
        }
        assert_eq!(wrap(&s(&["/bin/sh", "-c"]), &s(&["exec app"])), Some(s(&["/bin/sh", "-c", "exec app"])));
        assert_eq!(wrap(&[], &s(&["python3", "app.py"])), Some(s(&["python3", "app.py"])));
        assert_eq!(wrap(&[], &[]), None, "an image that names nothing to run is left as it is");
        assert_eq!(wrap(&s(&["/init"]), &s(&["nginx"])), None, "s6-overlay runs only as the first process");
        assert_eq!(wrap(&s(&["/lib/systemd/systemd"]), &[]), None);
    }

    #[test]
    fn only_what_the_copy_left_is_allowed_in_a_writable_layer() {
        let upper = tempfile::tempdir().unwrap();
        let at = |name: &str| upper.path().join(name);
        std::fs::write(at(".faultline-init"), BINARY).unwrap();
        assert_eq!(left_by_the_copy(&at(".faultline-init"), upper.path()), !BINARY.is_empty());
        std::fs::write(at(".faultline-init"), b"changed by the service").unwrap();
        assert!(!left_by_the_copy(&at(".faultline-init"), upper.path()), "an init the service rewrote");
        std::fs::create_dir(at(".pivot_root1234")).unwrap();
        assert!(left_by_the_copy(&at(".pivot_root1234"), upper.path()), "the engine's empty pivot directory");
        std::fs::write(at(".pivot_root1234/x"), b"").unwrap();
        assert!(!left_by_the_copy(&at(".pivot_root1234"), upper.path()), "something written into it");
        std::fs::create_dir(at(".pivot_rootx")).unwrap();
        assert!(!left_by_the_copy(&at(".pivot_rootx"), upper.path()), "not the engine's name");
        std::fs::write(at("tmp"), b"").unwrap();
        assert!(!left_by_the_copy(&at("tmp"), upper.path()), "anything else");
    }
}
