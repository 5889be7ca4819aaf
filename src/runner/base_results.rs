//! Recorded base results: the outcome of each experiment on a tree, kept so that a gate pays
//! for its base revision once per merge to the protected branch, not once per change.
//!
//! A gate of the protected branch (run with `--record-base-results DIR`) records what every
//! experiment did on its head: that tree is the base of every change opened after it. A gate
//! of a change (run with `--base-results DIR`) looks each experiment up under its base's
//! tree before running it there. An entry is keyed by faultline's version, the tree, the
//! configuration the stacks were built from, the explored service and the experiment's
//! scenario text, so an entry of another tree, configuration or experiment is never used.
//!
//! What a recorded result may decide, and what it may not ([`super::fault_search`]):
//! - the change's outcome no worse than the recorded one: the base is not run;
//! - worse, or a failure the recorded base shares (a known weakness): the base runs for real,
//!   with this run's seed, before anything is decided. A block, and an excuse for a failure,
//!   always rest on runs of this gate, never on a file.
//!
//! A forged record cannot make the gate block, nor excuse a failure of the change's own
//! checks; what it can do is hide a difference that stays within every check (an answer
//! slower or worse graded than the base's but still expected), by recording the base as bad
//! as the change. Who may write the directory is therefore the trust boundary: only runs of
//! the protected branch.
//! GitHub's and GitLab's caches give that (a pull request's cache is its own); a directory a
//! pull request's workflow can write is no such store. The change's own code never sees the
//! directory: it must lie outside the checkout, and builds and steps of the change run in
//! containers that mount nothing else of the runner. A damaged or foreign entry is a miss:
//! the base then runs as if nothing were recorded.

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::outcome::{ScenarioOutcome, Status};
use crate::scenario::experiments::Experiment;

/// An entry larger than this is not read (a miss): outcomes of a workload are kilobytes.
pub const MAX_ENTRY_BYTES: u64 = 8 << 20;

/// Why recorded base results cannot be used or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BaseResultsError {
    #[error(
        "the base results directory {} is inside the checkout {}, where a change could commit results of its own",
        dir.display(),
        root.display()
    )]
    #[diagnostic(code(faultline::base_results::inside_checkout), help("keep it outside the repository's work tree"))]
    InsideCheckout { dir: PathBuf, root: PathBuf },

    #[error("cannot write a base result into {}: {source}", dir.display())]
    #[diagnostic(code(faultline::base_results::write))]
    Write { dir: PathBuf, source: std::io::Error },
}

/// Where results are read (under the base's tree) and written (under the head's tree).
#[derive(Debug, Clone)]
pub struct BaseResults {
    dir: PathBuf,
    /// The base's tree: entries looked up under it. `None`: nothing is read.
    read: Option<String>,
    /// The head's tree: every experiment's outcome on it is recorded. `None`: nothing is written.
    write: Option<String>,
    /// A digest of the configuration the stacks were built from.
    config: String,
}

impl BaseResults {
    /// Checks that `dir` lies outside the checkout `root`, before a gate relies on it.
    pub fn check_dir(dir: &Path, root: &Path) -> Result<(), BaseResultsError> {
        match crate::bounded::inside(dir, root) {
            Some(_) => Err(BaseResultsError::InsideCheckout { dir: dir.to_path_buf(), root: root.to_path_buf() }),
            None => Ok(()),
        }
    }

    /// Results in `dir` (checked with [`BaseResults::check_dir`]); `read` and `write` are the
    /// trees entries are read under and written under; `config` the text of the
    /// configuration the stacks are built from.
    pub fn new(dir: &Path, read: Option<String>, write: Option<String>, config: &str) -> BaseResults {
        let config = hex(&sha2::Sha256::digest(config.as_bytes()));
        BaseResults { dir: dir.to_path_buf(), read, write, config }
    }

    /// The tree results are read under, for the report.
    pub fn read_tree(&self) -> Option<&str> {
        self.read.as_deref()
    }

    fn path(&self, tree: &str, service: &str, e: &Experiment) -> PathBuf {
        let mut h = sha2::Sha256::new();
        for part in [env!("CARGO_PKG_VERSION"), tree, &self.config, service, &e.name, &e.text] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        self.dir.join(format!("{}.json", hex(&h.finalize())))
    }

    /// The outcome recorded for `e` of `service` on the base's tree, if one is there and
    /// sound; anything else is a miss.
    pub fn get(&self, service: &str, e: &Experiment) -> Option<ScenarioOutcome> {
        let tree = self.read.as_deref()?;
        let path = self.path(tree, service, e);
        let bytes = match crate::bounded::read(&path, None, MAX_ENTRY_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(err) => {
                tracing::warn!(error = %err, "a recorded base result is not used");
                return None;
            }
        };
        let entry = match Entry::parse(&bytes) {
            Ok(e) => e,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "a recorded base result is not used");
                return None;
            }
        };
        let sound = entry.tree == tree && entry.service == service && entry.experiment == e.name;
        let judged = matches!(entry.outcome.status, Status::Passed | Status::Failed);
        (sound && judged).then_some(entry.outcome)
    }

    /// Records `o`, the outcome of `e` on the head's tree, for the gates of changes based on
    /// it. An outcome that could not be judged is not recorded.
    pub fn put(&self, service: &str, e: &Experiment, o: &ScenarioOutcome) -> Result<(), BaseResultsError> {
        let Some(tree) = self.write.as_deref() else { return Ok(()) };
        if !matches!(o.status, Status::Passed | Status::Failed) {
            return Ok(());
        }
        let fail = |source| BaseResultsError::Write { dir: self.dir.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let entry = Entry {
            tree: tree.to_owned(),
            service: service.to_owned(),
            experiment: e.name.clone(),
            outcome: o.clone(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| fail(std::io::Error::other(e)))?;
        let path = self.path(tree, service, e);
        // Written whole, then renamed: a reader never sees half an entry.
        let tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(fail)?;
        std::fs::write(tmp.path(), bytes).map_err(fail)?;
        tmp.persist(&path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

/// One recorded outcome, with what it is of (checked again when it is read).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub tree: String,
    pub service: String,
    pub experiment: String,
    pub outcome: ScenarioOutcome,
}

impl Entry {
    /// An entry as read from the directory (any bytes: the fuzz targets feed it).
    pub fn parse(bytes: &[u8]) -> Result<Entry, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
