//! Where the gate's revisions may come from: they agree with the code host's event (when CI
//! gives one), and the base is a branch the team protects (`policy.base_branches`).
//!
//! The base decides everything the gate trusts (its faultline.yaml, scenarios, CODEOWNERS).
//! A base the change's author can choose — their own branch with a weakened configuration,
//! a commit a feature branch carried for a moment — would let the change pick its judge.

use serde::Serialize;

use super::PlanError;
use crate::codehost::EventRevisions;
use crate::config::{self, CONFIG_FILE, ConfigOrigin};
use crate::repo::{Oid, Repo};

/// The most first-parent commits walked back from a branch's tip to find the base.
const MAX_BEHIND: usize = 100_000;

/// The protected branch a base belongs to, as the plan records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BaseBranch {
    /// The branch (`main`).
    pub branch: String,
    /// The ref its tip was read from (`refs/remotes/origin/main`).
    pub reference: String,
    /// Its tip.
    pub tip: String,
    /// How many commits the base is behind the tip on its first-parent history (0: the tip).
    pub behind: usize,
    /// What lists the branch: `policy.base_branches` of the default branch, or the default
    /// branch itself.
    pub listed_by: String,
    /// Whether the branch's tip has a faultline.yaml (`gate --adopting` applies only when not).
    pub has_config: bool,
}

/// Checks that `base` and `head` are the commits `event` names: the base is the event's
/// base or a later commit that contains it (the base branch moved on since the event was
/// made; GitLab's diff base is always contained), the head is the event's head or the code
/// host's test merge of it (a two-parent commit whose second parent is the head: GitHub's
/// `refs/pull/N/merge`, GitLab's merged results).
pub(crate) fn agree(
    repo: &Repo,
    base: &(String, Oid),
    head: Option<&(String, Oid)>,
    event: &EventRevisions,
) -> Result<(), PlanError> {
    let git = repo.git();
    if let Some(e) = &event.base {
        let contained = Oid::from_str(&e.sha)
            .is_ok_and(|want| want == base.1 || git.graph_descendant_of(base.1, want).unwrap_or(false));
        if !contained {
            return Err(PlanError::BaseDisagrees {
                rev: base.0.clone(),
                commit: base.1.to_string(),
                origin: event.source,
                field: e.field,
                event: e.sha.clone(),
            });
        }
    }
    if let (Some(e), Some(head)) = (&event.head, head) {
        let test_merge = || {
            git.find_commit(head.1)
                .is_ok_and(|c| c.parent_count() == 2 && c.parent_id(1).is_ok_and(|p| p.to_string() == e.sha))
        };
        if head.1.to_string() != e.sha && !test_merge() {
            return Err(PlanError::HeadDisagrees {
                rev: head.0.clone(),
                commit: head.1.to_string(),
                origin: event.source,
                field: e.field,
                event: e.sha.clone(),
            });
        }
    }
    Ok(())
}

/// The branch of `policy.base_branches` (read from the default branch's tip) whose
/// first-parent history holds `base`.
pub(crate) fn protected(
    repo: &Repo,
    base: &(String, Oid),
    event: Option<&EventRevisions>,
) -> Result<BaseBranch, PlanError> {
    let (default, how) = default_branch(repo, event)?;
    let Some((default_ref, default_tip)) = branch_refs(repo, &default).into_iter().next() else {
        return Err(PlanError::NoDefaultBranch {
            help: format!("{how} names `{default}`, but no ref of it is here: {}", crate::repo::FETCH_HELP),
        });
    };
    let (listed, listed_by) = match read_config(repo, &default_ref, default_tip)? {
        Some(c) => match c.config.policy.base_branches {
            Some(list) => {
                (list, format!("policy.base_branches of {default} ({default_ref} at {})", short(default_tip)))
            }
            None => {
                (vec![default.clone()], format!("the default branch: {default} lists no policy.base_branches; {how}"))
            }
        },
        None => (vec![default.clone()], format!("the default branch: {default} has no {CONFIG_FILE} yet; {how}")),
    };
    for pattern in &listed {
        for (branch, reference, tip) in matching(repo, pattern) {
            if let Some(behind) = first_parent_distance(repo, tip, base.1) {
                let has_config = repo
                    .read(
                        &crate::repo::Snapshot::Commit { rev: reference.clone(), oid: tip },
                        CONFIG_FILE,
                        crate::config::MAX_CONFIG_BYTES,
                    )?
                    .is_some();
                return Ok(BaseBranch {
                    branch,
                    reference,
                    tip: tip.to_string(),
                    behind,
                    listed_by: listed_by.clone(),
                    has_config,
                });
            }
        }
    }
    Err(PlanError::UnprotectedBase {
        rev: base.0.clone(),
        commit: base.1.to_string(),
        branches: listed.join(", "),
        listed_by,
        help: format!(
            "the base must be one of these branches' tip, or a commit that was its tip before (its first-parent history, at most {MAX_BEHIND} commits back): a branch anyone \
             can push to could carry a weaker {CONFIG_FILE}. Open the pull request against a listed branch, or \
             list the branch in policy.base_branches on {default}. {}",
            if repo.is_shallow() {
                format!("This is a shallow clone: {}", crate::repo::FETCH_HELP)
            } else {
                String::new()
            }
        ),
    })
}

/// The repository's default branch, and how it was found: the code host's event, else
/// `origin/HEAD`, else `main` or `master`, whichever exists.
fn default_branch(repo: &Repo, event: Option<&EventRevisions>) -> Result<(String, String), PlanError> {
    if let Some(e) = event
        && let Some(d) = &e.default_branch
    {
        return Ok((d.clone(), format!("the {} names it", e.source)));
    }
    if let Ok(r) = repo.git().find_reference("refs/remotes/origin/HEAD")
        && let Some(b) = r.symbolic_target().ok().flatten().and_then(|t| t.strip_prefix("refs/remotes/origin/"))
    {
        return Ok((b.to_owned(), "origin/HEAD points at it".to_owned()));
    }
    for b in ["main", "master"] {
        if !branch_refs(repo, b).is_empty() {
            return Ok((b.to_owned(), format!("no code host or origin/HEAD names one, and `{b}` exists")));
        }
    }
    Err(PlanError::NoDefaultBranch {
        help: "neither the code host's event nor origin/HEAD names the default branch, and there is no `main` or \
               `master`: run `git remote set-head origin --auto`, or fetch the default branch"
            .to_owned(),
    })
}

/// The refs of branch `name` and their tips: `origin`'s remote-tracking branch first (what
/// the code host protects), then the local branch, then other remotes'.
fn branch_refs(repo: &Repo, name: &str) -> Vec<(String, Oid)> {
    let git = repo.git();
    let mut names = vec![format!("refs/remotes/origin/{name}"), format!("refs/heads/{name}")];
    names.extend(other_remotes(repo).into_iter().map(|r| format!("refs/remotes/{r}/{name}")));
    names
        .into_iter()
        .filter_map(|n| {
            let tip = git.find_reference(&n).ok()?.peel_to_commit().ok()?.id();
            Some((n, tip))
        })
        .collect()
}

/// The configured remotes other than `origin`.
fn other_remotes(repo: &Repo) -> Vec<String> {
    let Ok(remotes) = repo.git().remotes() else { return Vec::new() };
    remotes.iter().filter_map(|r| r.ok().flatten()).filter(|r| *r != "origin").map(str::to_owned).collect()
}

/// Every branch `pattern` (a name or a glob) names: `(branch, ref, tip)`.
fn matching(repo: &Repo, pattern: &str) -> Vec<(String, String, Oid)> {
    if !pattern.contains(['*', '?', '[', '{']) {
        return branch_refs(repo, pattern).into_iter().map(|(r, tip)| (pattern.to_owned(), r, tip)).collect();
    }
    let Ok(glob) = config::glob::compile(pattern) else { return Vec::new() };
    let glob = glob.compile_matcher();
    let mut names: Vec<String> = Vec::new();
    let mut prefixes = vec!["refs/remotes/origin/".to_owned(), "refs/heads/".to_owned()];
    prefixes.extend(other_remotes(repo).into_iter().map(|r| format!("refs/remotes/{r}/")));
    if let Ok(refs) = repo.git().references() {
        for name in refs.flatten().filter_map(|r| r.name().ok().map(str::to_owned)) {
            if let Some(branch) = prefixes.iter().find_map(|p| name.strip_prefix(p.as_str()))
                && branch != "HEAD"
                && glob.is_match(branch)
                && !names.iter().any(|n| n == branch)
            {
                names.push(branch.to_owned());
            }
        }
    }
    names.sort();
    names.into_iter().flat_map(|b| branch_refs(repo, &b).into_iter().map(move |(r, tip)| (b.clone(), r, tip))).collect()
}

/// How many first parents back from `tip` `base` is, when it is there.
fn first_parent_distance(repo: &Repo, tip: Oid, base: Oid) -> Option<usize> {
    let mut at = tip;
    for n in 0..MAX_BEHIND {
        if at == base {
            return Some(n);
        }
        at = repo.git().find_commit(at).ok()?.parent_id(0).ok()?;
    }
    None
}

/// The faultline.yaml of `tip`, when it has one.
fn read_config(repo: &Repo, reference: &str, tip: Oid) -> Result<Option<config::LoadedConfig>, PlanError> {
    let snap = crate::repo::Snapshot::Commit { rev: reference.to_owned(), oid: tip };
    let Some(bytes) = repo.read(&snap, CONFIG_FILE, crate::config::MAX_CONFIG_BYTES)? else { return Ok(None) };
    let origin = ConfigOrigin::Revision { rev: reference.to_owned(), commit: tip.to_string() };
    Ok(Some(config::parse_bytes(CONFIG_FILE, bytes, origin.clone()).map_err(|e| match e {
        config::ConfigError::Invalid { problems, .. } => {
            config::ConfigError::Invalid { file: origin.to_string(), problems }
        }
        other => other,
    })?))
}

fn short(id: Oid) -> String {
    id.to_string().chars().take(10).collect()
}
