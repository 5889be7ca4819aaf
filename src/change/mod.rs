//! Stage 1, change analysis: what changed between two revisions (or in the working tree),
//! who wrote it (AI provenance), and how risky it is (tier).

pub(crate) mod assistants;
mod diff;
mod path;
pub(crate) mod provenance;
pub(crate) mod tier;
mod treediff;

use serde::Serialize;

pub(crate) use diff::analyze;
pub use path::{RepoPath, clean};
pub(crate) use provenance::Evidence;
pub(crate) use tier::TierDecision;

/// Which change to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSpec {
    /// `base...head`: everything `head` adds since its merge base with `base`.
    Revisions { base: String, head: String },
    /// The working tree (with untracked files) against `base` (usually `HEAD`).
    Worktree { base: String },
}

impl ChangeSpec {
    /// The revision the gate's configuration and scenarios are read from.
    pub(crate) fn base(&self) -> &str {
        match self {
            ChangeSpec::Revisions { base, .. } | ChangeSpec::Worktree { base } => base,
        }
    }
}

/// A [`ChangeSpec`] whose revisions are resolved to commits: `(name as given, commit)`.
/// `head` is `None` for the working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub base: (String, git2::Oid),
    pub head: Option<(String, git2::Oid)>,
}

impl Resolved {
    /// The base as the plan records it.
    pub(crate) fn base_ref(&self) -> RevRef {
        RevRef { rev: self.base.0.clone(), commit: self.base.1.to_string() }
    }

    /// The head as the plan records it; `None` for the working tree.
    pub(crate) fn head_ref(&self) -> Option<RevRef> {
        self.head.as_ref().map(|(rev, oid)| RevRef { rev: rev.clone(), commit: oid.to_string() })
    }
}

/// A revision as the user named it and the commit it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RevRef {
    pub rev: String,
    pub commit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    Copied,
    /// A file became a symlink or a submodule, or the reverse.
    Typechange,
}

impl ChangeStatus {
    /// The one-letter code `git diff --name-status` uses.
    pub(crate) fn letter(self) -> char {
        match self {
            ChangeStatus::Added => 'A',
            ChangeStatus::Modified => 'M',
            ChangeStatus::Deleted => 'D',
            ChangeStatus::Renamed => 'R',
            ChangeStatus::Copied => 'C',
            ChangeStatus::Typechange => 'T',
        }
    }
}

/// One changed path. A deleted path keeps its old name in `path`, so it still belongs to the
/// service that owned it; a renamed path also affects the owner of `old_path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChangedPath {
    pub path: RepoPath,
    pub status: ChangeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<RepoPath>,
}

impl ChangedPath {
    /// Every path this change touches: the new one and, for renames, the old one.
    pub(crate) fn touched(&self) -> impl Iterator<Item = &RepoPath> {
        std::iter::once(&self.path).chain(self.old_path.as_ref().filter(|_| self.status == ChangeStatus::Renamed))
    }
}

/// A commit of the change, with what provenance and sign-off need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CommitInfo {
    pub id: String,
    pub summary: String,
    /// `Name <email>`.
    pub author: String,
    /// `Name <email>`.
    pub committer: String,
    /// `(key, value)` trailer lines, in order.
    pub trailers: Vec<(String, String)>,
    /// The whole message (markers an assistant leaves in the body are evidence too).
    #[serde(default)]
    pub message: String,
}

/// The change under test, as later stages see it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Change {
    pub base: RevRef,
    /// `None` for the working tree.
    pub head: Option<RevRef>,
    pub merge_base: String,
    pub paths: Vec<ChangedPath>,
    /// Commits in `merge_base..head`, newest first (empty for the working tree).
    pub commits: Vec<CommitInfo>,
}
