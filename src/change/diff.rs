//! The diff itself: merge base, tree-to-tree (see `treediff`) or tree-to-worktree (libgit2),
//! and the commits of the change.

use git2::{Delta, Diff, DiffFindOptions, DiffOptions, Oid, Sort};

use super::{Change, ChangeStatus, ChangedPath, CommitInfo, RepoPath, Resolved};
use crate::repo::{Repo, RepoError, git_err};

/// Analyses the change between the resolved revisions. An empty change is not an error.
pub(crate) fn analyze(repo: &Repo, revs: &Resolved) -> Result<Change, RepoError> {
    let git = repo.git();
    let (base, base_oid) = (&revs.base.0, revs.base.1);
    match &revs.head {
        Some((head, head_oid)) => {
            let head_oid = *head_oid;
            let t = std::time::Instant::now();
            let mb = repo.merge_base(base, base_oid, head, head_oid)?;
            tracing::trace!(elapsed = ?t.elapsed(), "merge base found");
            let old = git.find_commit(mb).and_then(|c| c.tree()).map_err(git_err("read merge base tree"))?;
            let new = git.find_commit(head_oid).and_then(|c| c.tree()).map_err(git_err("read head tree"))?;
            let t = std::time::Instant::now();
            let paths = super::treediff::diff_trees(git, &old, &new)?;
            tracing::trace!(elapsed = ?t.elapsed(), "trees compared");
            let commits = commits(repo, mb, head_oid)?;
            tracing::trace!(elapsed = ?t.elapsed(), "commits read");
            Ok(Change { base: revs.base_ref(), head: revs.head_ref(), merge_base: mb.to_string(), paths, commits })
        }
        None => {
            let old = git.find_commit(base_oid).and_then(|c| c.tree()).map_err(git_err("read base tree"))?;
            let mut opts = diff_options();
            opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
            let mut diff = git
                .diff_tree_to_workdir_with_index(Some(&old), Some(&mut opts))
                .map_err(git_err("diff working tree"))?;
            let paths = collect(&mut diff)?;
            Ok(Change {
                base: revs.base_ref(),
                head: None,
                merge_base: base_oid.to_string(),
                paths,
                commits: Vec::new(),
            })
        }
    }
}

fn diff_options() -> DiffOptions {
    let mut opts = DiffOptions::new();
    opts.include_typechange(true).ignore_submodules(false).context_lines(0);
    opts
}

/// Working-tree changes through libgit2 (index, ignore rules, untracked files): renames and
/// copies from files the change also modifies, like `git diff -C`.
fn collect(diff: &mut Diff<'_>) -> Result<Vec<ChangedPath>, RepoError> {
    let mut find = DiffFindOptions::new();
    find.renames(true).copies(true).for_untracked(true).rename_limit(10_000);
    diff.find_similar(Some(&mut find)).map_err(git_err("detect renames"))?;
    let mut out = Vec::with_capacity(diff.deltas().len());
    for delta in diff.deltas() {
        let new = delta.new_file().path_bytes().map(RepoPath::new);
        let old = delta.old_file().path_bytes().map(RepoPath::new);
        let (status, path, old_path) = match delta.status() {
            Delta::Added | Delta::Untracked => (ChangeStatus::Added, new, None),
            Delta::Modified => (ChangeStatus::Modified, new, None),
            Delta::Deleted => (ChangeStatus::Deleted, old, None),
            Delta::Renamed => (ChangeStatus::Renamed, new, old),
            Delta::Copied => (ChangeStatus::Copied, new, old),
            Delta::Typechange => (ChangeStatus::Typechange, new, None),
            Delta::Unmodified | Delta::Ignored | Delta::Unreadable | Delta::Conflicted => continue,
        };
        if let Some(path) = path {
            out.push(ChangedPath { path, status, old_path });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Commits reachable from `head` but not from the merge base, newest first.
fn commits(repo: &Repo, merge_base: Oid, head: Oid) -> Result<Vec<CommitInfo>, RepoError> {
    let git = repo.git();
    let mut walk = git.revwalk().map_err(git_err("walk commits"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME).map_err(git_err("walk commits"))?;
    walk.push(head).map_err(git_err("walk commits"))?;
    walk.hide(merge_base).map_err(git_err("walk commits"))?;
    let mut out = Vec::new();
    for oid in walk {
        let oid = oid.map_err(git_err("walk commits"))?;
        let c = git.find_commit(oid).map_err(git_err(format!("read commit {oid}")))?;
        let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
        let trailers = git2::message_trailers_strs(&message)
            .map(|t| t.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            .unwrap_or_default();
        out.push(CommitInfo {
            id: oid.to_string(),
            summary: message.lines().next().unwrap_or("").to_owned(),
            author: signature(&c.author()),
            committer: signature(&c.committer()),
            trailers,
            message,
        });
    }
    Ok(out)
}

fn signature(s: &git2::Signature<'_>) -> String {
    format!("{} <{}>", String::from_utf8_lossy(s.name_bytes()), String::from_utf8_lossy(s.email_bytes()))
}
