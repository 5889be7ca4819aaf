//! Images built while the change's code builds: a service with no `prepare:` whose build
//! context no `prepare:` can write (a database's, a cache's) does not wait for the build,
//! so on a cold machine its image (`apt-get`, a minute) and the build (a cargo release
//! build, a minute) take the time of the longer, not of both.
//!
//! Only contexts the build cannot touch start early: with `isolation:` in a container, the
//! build writes the paths of `isolation.writable` and the gate's build cache; on the runner
//! (`isolation.on_runner`) it may write anything, and nothing starts early. Whatever starts
//! early, every image is resolved again from the checkout once the build has ended
//! ([`super::prepare_images`]), so a stack always runs what the checkout holds then; an
//! image built early is found there by its tag and not built twice.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::image::ImageRef;
use super::sandbox::Place;
use super::{StackError, docker};
use crate::config::Config;

/// The services of `services` whose image can be built while the `prepare:` commands of
/// `services` not in `done` run: those with no `prepare:` of their own, built from a
/// context (and `dockerfile:`) that is neither inside nor around anything the build may
/// write. Empty when there is no build to overlap, or when the build may write anywhere.
pub(crate) fn early_services(config: &Config, services: &[String], root: &Path, done: &[String]) -> Vec<String> {
    let builds = super::prepare_commands(config, services).into_iter().any(|(_, c)| !done.iter().any(|d| d == c));
    if !builds {
        return Vec::new();
    }
    let Some(written) = written_by_prepare(config, root) else { return Vec::new() };
    services
        .iter()
        .filter(|name| {
            let Some(svc) = config.services.get(*name) else { return false };
            let Some(ctx) = svc.build.as_deref().filter(|_| svc.prepare.is_none()) else { return false };
            let mut read = vec![(root.join(ctx), true)];
            read.extend(svc.dockerfile.as_ref().map(|d| (root.join(d), false)));
            read.iter().all(|(path, is_dir)| untouched(path, *is_dir, &written))
        })
        .cloned()
        .collect()
}

/// The places `prepare:` may write, resolved: `isolation.writable` and every build cache
/// of the gate's (a run's own copy, a working tree's); `None` when it may write anywhere
/// (on the runner) or the configuration does not say where it runs.
fn written_by_prepare(config: &Config, root: &Path) -> Option<Vec<PathBuf>> {
    match super::sandbox::place(config, "prepare").ok()? {
        Place::Runner(_) => None,
        Place::Container(iso) => {
            let mut out: Vec<PathBuf> = super::sandbox::writable(iso, root);
            out.push(super::sandbox::cache_root());
            out.iter().map(|p| resolved(p)).collect()
        }
    }
}

/// Whether `path` (a context directory, or a file when `!is_dir`) is clear of every place
/// in `written`: not inside one, and, for a directory, not holding one. A path that cannot
/// be resolved is not clear.
fn untouched(path: &Path, is_dir: bool, written: &[PathBuf]) -> bool {
    let Some(p) = resolved(path) else { return false };
    !written.iter().any(|w| p.starts_with(w) || (is_dir && w.starts_with(&p)))
}

/// `path` with every link and `..` of the part that exists resolved, and the rest appended
/// as written; `None` when a `..` is in the part that does not exist (where it leads is
/// not known yet).
fn resolved(path: &Path) -> Option<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    let mut out = loop {
        match existing.canonicalize() {
            Ok(c) => break c,
            Err(_) => {
                // `None` for a path that ends in `..`.
                rest.push(existing.file_name()?.to_owned());
                if !existing.pop() {
                    return None;
                }
            }
        }
    };
    out.extend(rest.iter().rev());
    Some(out)
}

/// Images being built in the background while the change's code builds; dropping it
/// abandons them (the engine stops a build whose client went away).
pub(crate) struct EarlyImages {
    state: State,
}

enum State {
    Building(tokio::task::JoinHandle<Result<Vec<ImageRef>, StackError>>),
    Ended(Result<Vec<ImageRef>, StackError>),
}

impl EarlyImages {
    /// Starts building the images of `services` (see [`early_services`]) that are missing,
    /// each distinct image once. Nothing starts when `services` is empty.
    pub(crate) fn start(config: &Config, services: &[String], root: &Path) -> EarlyImages {
        if services.is_empty() {
            return EarlyImages { state: State::Ended(Ok(Vec::new())) };
        }
        let builds = match super::resolve_images(config, services, root) {
            Ok((_, builds)) => builds,
            Err(e) => return EarlyImages { state: State::Ended(Err(e)) },
        };
        tracing::info!(services = ?services, "images checked and built during the build");
        let task = tokio::spawn(async move {
            let docker = docker::local_client().await?;
            super::build_all(&docker, &builds).await
        });
        EarlyImages { state: State::Building(task) }
    }

    /// Nothing built early.
    pub(crate) fn none() -> EarlyImages {
        EarlyImages { state: State::Ended(Ok(Vec::new())) }
    }

    /// Runs `work` while the images build. An image that fails to build before `work`
    /// ends stops `work` (it is dropped) and is the error; otherwise `work`'s output.
    pub(crate) async fn during<T>(&mut self, work: impl Future<Output = T>) -> Result<T, StackError> {
        let State::Building(task) = &mut self.state else {
            if let State::Ended(Err(_)) = &self.state {
                return Err(self.take_error());
            }
            return Ok(work.await);
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => Ok(out),
            ended = task => {
                self.state = State::Ended(joined(ended));
                if let State::Ended(Err(_)) = &self.state {
                    return Err(self.take_error());
                }
                Ok(work.await)
            }
        }
    }

    /// Waits for the images; the ones that were built (not found by their tag).
    pub(crate) async fn finish(mut self) -> Result<Vec<ImageRef>, StackError> {
        match std::mem::replace(&mut self.state, State::Ended(Ok(Vec::new()))) {
            State::Building(task) => joined(task.await),
            State::Ended(r) => r,
        }
    }

    fn take_error(&mut self) -> StackError {
        match std::mem::replace(&mut self.state, State::Ended(Ok(Vec::new()))) {
            State::Ended(Err(e)) => e,
            _ => StackError::Docker { action: "build images".into(), reason: "no error to report".into() },
        }
    }
}

impl Drop for EarlyImages {
    fn drop(&mut self) {
        if let State::Building(task) = &self.state {
            task.abort();
        }
    }
}

fn joined(r: Result<Result<Vec<ImageRef>, StackError>, tokio::task::JoinError>) -> Result<Vec<ImageRef>, StackError> {
    r.unwrap_or_else(|e| Err(StackError::Docker { action: "build images".into(), reason: e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration as the plan hands it on (stages after the plan read no YAML).
    fn config(isolation: serde_json::Value) -> Config {
        let svc = |build: &str| serde_json::json!({ "build": build, "ports": [1] });
        let mut dockerfile = svc("images/db");
        dockerfile["dockerfile"] = "services/app/bin/Dockerfile".into();
        let mut app = svc("services/app");
        app["prepare"] = "./build.sh".into();
        let mut c = serde_json::json!({
            "version": 1,
            "services": {
                "db": svc("images/db"),
                "cache": svc("images/cache"),
                "inside": svc("services/app/bin"),
                "around": svc("services"),
                "linked": svc("images/link"),
                "dockerfile": dockerfile,
                "pulled": { "image": "redis:7", "ports": [6379] },
                "app": app,
            },
        });
        if !isolation.is_null() {
            c["isolation"] = isolation;
        }
        serde_json::from_value(c).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Only a context no `prepare:` can write starts early: not the prepared service's own,
    /// not one inside or around a writable path, not one that leads into it through a link,
    /// not one whose `dockerfile:` is there; nothing at all when the build runs on the
    /// runner, or when every `prepare:` ran already.
    #[test]
    fn only_contexts_the_build_cannot_write_start_early() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["images/db", "images/cache", "services/app/bin"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(r.join("services/app/bin"), r.join("images/link")).unwrap();
        let all: Vec<String> =
            ["db", "cache", "inside", "around", "linked", "dockerfile", "pulled", "app"].map(String::from).to_vec();
        let cfg = config(serde_json::json!({ "writable": ["services/app/bin"] }));
        assert_eq!(early_services(&cfg, &all, r, &[]), ["db", "cache"]);
        assert!(early_services(&cfg, &all, r, &["./build.sh".into()]).is_empty());
        assert!(early_services(&cfg, &all[..2], r, &[]).is_empty(), "no build among them");

        let on_runner = config(serde_json::json!({ "on_runner": "trusted" }));
        assert!(early_services(&on_runner, &all, r, &[]).is_empty());
        let unset = config(serde_json::Value::Null);
        assert!(early_services(&unset, &all, r, &[]).is_empty());
    }

    #[test]
    fn paths_resolve_through_links_and_refuse_unknown_parents() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path().canonicalize().unwrap();
        std::fs::create_dir_all(r.join("a")).unwrap();
        std::os::unix::fs::symlink(r.join("a"), r.join("l")).unwrap();
        assert_eq!(resolved(&r.join("l/new/dir")), Some(r.join("a/new/dir")));
        assert_eq!(resolved(&r.join("missing/../a")), None);
        assert_eq!(resolved(&r.join("a/../a")), Some(r.join("a")));
    }
}
