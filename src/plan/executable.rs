//! The plan as the gate executes it: everything the later stages need, read from git and
//! YAML once, here. After this, no stage reads a revision, faultline.yaml or a scenario file
//! again (`tests/architecture.rs` checks it from the sources).

use std::path::{Path, PathBuf};

use super::{Plan, PlanError};
use crate::change::Resolved;
use crate::config::LoadedConfig;
use crate::repo::{Repo, Snapshot};
use crate::scenario::Scenario;
use crate::scenario::experiments::{Experiment, Workload};

/// A plan and what it was made from: the configuration (of the base, unless asked
/// otherwise), where its scenarios are, and the revisions, each resolved once.
#[derive(Debug)]
pub struct Planned {
    pub plan: Plan,
    pub config: LoadedConfig,
    pub(super) snap: Snapshot,
    pub(super) revs: Resolved,
    /// SHA-256 of the configuration's faultline.yaml and scenario files ([`super::config_digest`]).
    pub config_digest: String,
}

/// What the gate, `run`, `explore` and `repro` execute.
#[derive(Debug)]
pub struct Executable {
    /// The plan (`plan` in verdict.json); `None` for `run` and `explore`, which judge the
    /// working tree, not a change.
    pub plan: Option<Plan>,
    /// The configuration the stacks are built from: the base's for a gate.
    pub config: LoadedConfig,
    /// The scenarios to run, validated, sorted by name.
    pub scenarios: Vec<Scenario>,
    /// The services to explore, in the plan's order, each with its workload and reference run.
    pub explore: Vec<ExploreTarget>,
    /// Where the code under test is.
    pub code: Code,
    /// The code the change started from (the merge base), exported when services are
    /// explored: every experiment runs there too, and the change is compared with it.
    pub base_code: Option<Code>,
}

/// A service to explore: its workload and the fault-free reference run of it, or why
/// there is none (reported in its exploration, which then could not verify).
#[derive(Debug)]
pub struct ExploreTarget {
    pub service: String,
    pub ready: Result<(Workload, Experiment), ExploreTargetError>,
}

/// Why a service cannot be explored as written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExploreTargetError {
    /// Its workload is not valid (located at `explore.workloads.<service>`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workload(crate::config::ConfigError),
    /// The reference run the catalogue made of it is not a valid scenario.
    #[error(transparent)]
    Reference(crate::scenario::experiments::InvalidExperiment),
}

impl ExploreTargetError {
    /// The error with each located problem on a line of its own, for a report.
    pub(crate) fn located(&self) -> String {
        let mut s = self.to_string();
        if let ExploreTargetError::Workload(crate::config::ConfigError::Invalid { problems, .. }) = self {
            for p in problems {
                s.push_str(&format!("\n  {}:{}:{}: {}", p.file, p.line, p.column, p.message));
            }
        }
        s
    }
}

/// The code under test.
#[derive(Debug)]
pub enum Code {
    /// The head commit, written into a temporary directory (no index or HEAD touched); the
    /// directory goes when this does.
    Export { commit: String, tree: String, dir: tempfile::TempDir },
    /// A directory as it is: the working tree (`run`, `explore`, a gate of the working tree).
    Dir(PathBuf),
}

impl Code {
    /// Where `build:` contexts and `prepare:` commands are.
    pub fn root(&self) -> &Path {
        match self {
            Code::Export { dir, .. } => dir.path(),
            Code::Dir(p) => p,
        }
    }
}

impl Planned {
    /// The executable plan: the scenarios the plan selected, validated (every scenario file
    /// of the configuration's revision must be valid, as a gate that cannot read one of its
    /// scenarios cannot judge), the services to explore with their reference runs, and the
    /// head's code exported.
    pub fn executable(self, repo: &Repo) -> Result<Executable, PlanError> {
        let all = crate::scenario::load_all(repo, &self.snap, &self.config)?;
        let scenarios = all.into_iter().filter(|s| self.plan.scenarios.contains(&s.name)).collect();
        let explore = self.plan.explore.iter().map(|s| ExploreTarget::new(&self.config, s)).collect();
        let code = match &self.revs.head {
            Some((rev, oid)) => export(repo, rev, *oid, "faultline-head-")?,
            None => Code::Dir(repo.root().to_path_buf()),
        };
        let base_code = match crate::repo::Oid::from_str(&self.plan.merge_base) {
            // Exploration compares with the base; isolated builds start from the base's.
            Ok(oid) if !self.plan.explore.is_empty() || isolated_builds(&self.config.config) => {
                Some(export(repo, "the merge base", oid, "faultline-base-")?)
            }
            _ => None,
        };
        Ok(Executable { plan: Some(self.plan), config: self.config, scenarios, explore, code, base_code })
    }
}

impl Executable {
    /// What `run` and `explore` execute: scenarios and explorations of the working tree.
    pub fn of_worktree(repo: &Repo, config: LoadedConfig, scenarios: Vec<Scenario>, explore: &[String]) -> Self {
        let explore = explore.iter().map(|s| ExploreTarget::new(&config, s)).collect();
        Executable {
            plan: None,
            config,
            scenarios,
            explore,
            code: Code::Dir(repo.root().to_path_buf()),
            base_code: None,
        }
    }

    /// Keeps only the scenarios `keep` accepts by name (a share of `--partition`). Explored
    /// services stay: under `--partition` each shard runs its share of their experiments.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.scenarios.retain(|s| keep(&s.name));
    }
}

impl ExploreTarget {
    /// The workload of `service` and its reference run, validated now.
    pub(crate) fn new(config: &LoadedConfig, service: &str) -> ExploreTarget {
        let ready = crate::scenario::experiments::workload(config, service)
            .map_err(ExploreTargetError::Workload)
            .and_then(|w| {
                let r = crate::scenario::experiments::reference(&w, &config.config)
                    .map_err(ExploreTargetError::Reference)?;
                Ok((w, r))
            });
        ExploreTarget { service: service.to_owned(), ready }
    }
}

/// Whether `config` builds services with `prepare:` in containers, whose builds start from
/// a build of the base tree.
fn isolated_builds(config: &crate::config::Config) -> bool {
    let isolated = config.isolation.as_ref().is_some_and(|i| i.on_runner.is_none());
    isolated && config.services.values().any(|s| s.prepare.is_some())
}

/// Writes the tree of the commit `oid` (named `rev`) into a fresh temporary directory.
fn export(repo: &Repo, rev: &str, oid: crate::repo::Oid, prefix: &str) -> Result<Code, PlanError> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().map_err(PlanError::TempDir)?;
    let fail = |source| PlanError::Export { rev: rev.to_owned(), source };
    let commit = repo.git().find_commit(oid).map_err(fail)?;
    let mut co = git2::build::CheckoutBuilder::new();
    co.target_dir(dir.path()).force().update_index(false).recreate_missing(true);
    repo.git().checkout_tree(commit.as_object(), Some(&mut co)).map_err(fail)?;
    let tree = commit.tree_id().to_string();
    Ok(Code::Export { commit: oid.to_string(), tree, dir })
}
