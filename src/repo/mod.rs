//! The repository through git2: resolving revisions and reading files at a revision or in
//! the working tree. Shared by config loading (which reads the base revision) and change
//! analysis.

use std::path::{Path, PathBuf};

pub(crate) use git2::Oid;
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use miette::Diagnostic;

mod revision;

/// Everything that can go wrong talking to git.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RepoError {
    #[error("{} is not inside a git repository", dir.display())]
    #[diagnostic(
        code(faultline::git::not_a_repo),
        help("run faultline inside a git checkout, or point at one with -C DIR")
    )]
    NotARepo { dir: PathBuf },

    #[error("{} is a bare repository; faultline needs a working tree", dir.display())]
    #[diagnostic(code(faultline::git::bare))]
    Bare { dir: PathBuf },

    #[error("revision `{rev}` does not exist in this repository")]
    #[diagnostic(code(faultline::git::unknown_revision), help("{help}"))]
    UnknownRevision { rev: String, help: String },

    #[error("revision `{rev}` is ambiguous: it names {}", .candidates.join(", and "))]
    #[diagnostic(code(faultline::git::ambiguous_revision), help("{help}"))]
    Ambiguous { rev: String, candidates: Vec<String>, help: String },

    #[error("no merge base between `{base}` and `{head}`{}", if *shallow { " in this shallow clone" } else { "" })]
    #[diagnostic(code(faultline::git::no_merge_base), help("{help}"))]
    NoMergeBase { base: String, head: String, shallow: bool, help: String },

    #[error("git: {action}: {source}")]
    #[diagnostic(code(faultline::git::error))]
    Git { action: String, source: git2::Error },

    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(faultline::git::io))]
    Io { path: PathBuf, source: std::io::Error },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Read(#[from] crate::bounded::ReadError),

    #[error("{path} in `{rev}` is {} ({size} bytes): over the {} faultline reads from a change", crate::bounded::human(*size), crate::bounded::human(*cap))]
    #[diagnostic(
        code(faultline::git::too_large),
        help(
            "a file over the limit is refused, never cut short: make it smaller (split the scenarios over several files)"
        )
    )]
    TooLarge { path: String, rev: String, size: u64, cap: u64 },

    #[error("{path} in `{rev}` is a symbolic link: faultline reads only regular files from a commit")]
    #[diagnostic(code(faultline::git::link), help("commit the file itself instead of a link to it"))]
    Link { path: String, rev: String },
}

pub(crate) fn git_err(action: impl Into<String>) -> impl FnOnce(git2::Error) -> RepoError {
    let action = action.into();
    move |source| RepoError::Git { action, source }
}

pub(crate) const FETCH_HELP: &str = "in CI, check out with full history (GitHub Actions: `fetch-depth: 0`; \
    GitLab: `GIT_DEPTH: 0`) or run `git fetch --unshallow`; locally, `git fetch origin` the base branch";

/// What a file read comes from: a commit, or the working tree as it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot {
    Commit { rev: String, oid: Oid },
    Worktree,
}

pub struct Repo {
    git: Repository,
    root: PathBuf,
}

impl Repo {
    /// Finds the repository containing `dir`, like git does.
    pub fn discover(dir: &Path) -> Result<Repo, RepoError> {
        // faultline only reads, and git itself does not re-hash objects on every read; libgit2
        // does by default, which was a fifth of `plan`'s time on a 100,000-file repository.
        git2::opts::strict_hash_verification(false);
        let git = Repository::discover(dir).map_err(|_| RepoError::NotARepo { dir: dir.to_path_buf() })?;
        let root = git.workdir().ok_or_else(|| RepoError::Bare { dir: dir.to_path_buf() })?.to_path_buf();
        Ok(Repo { git, root })
    }

    /// A second handle on the same repository, for another thread (a handle is not `Sync`).
    pub(crate) fn reopen(&self) -> Result<Repo, RepoError> {
        let git = Repository::open(self.git.path()).map_err(git_err("reopen repository"))?;
        Ok(Repo { git, root: self.root.clone() })
    }

    pub(crate) fn git(&self) -> &Repository {
        &self.git
    }

    /// The top of the working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tree of HEAD when the working tree holds exactly it (nothing modified, staged or
    /// untracked; ignored files aside), `None` otherwise: what `explore --record-base-results`
    /// may record its outcomes under.
    pub fn clean_head_tree(&self) -> Result<Option<String>, RepoError> {
        let head = self.git.head().and_then(|h| h.peel_to_tree()).map_err(git_err("read HEAD's tree"))?;
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
        let statuses = self.git.statuses(Some(&mut opts)).map_err(git_err("read the working tree's status"))?;
        Ok(statuses.is_empty().then(|| head.id().to_string()))
    }

    pub(crate) fn is_shallow(&self) -> bool {
        self.git.is_shallow()
    }

    /// Resolves a revision (`origin/main`, `HEAD~2`, a hash) to a commit, unambiguously: a
    /// short name that git could read as more than one ref (a tag and a branch both called
    /// `main`, a tag called `origin/main` beside the remote-tracking branch), or as a ref and
    /// an abbreviated object id, is [`RepoError::Ambiguous`], naming each with its commit. A
    /// full ref (`refs/remotes/origin/main`) means exactly that ref and a full object id
    /// exactly that object, never a ref that happens to share its name.
    pub(crate) fn resolve(&self, rev: &str) -> Result<Oid, RepoError> {
        let unknown = || self.unknown(rev);
        let (name, suffix) = revision::split(rev);
        let target = match revision::meaning(&self.git, name) {
            revision::Meaning::One(target) => target,
            revision::Meaning::None => return Err(unknown()),
            revision::Meaning::Many(candidates, refs) => {
                return Err(RepoError::Ambiguous { rev: rev.to_owned(), candidates, help: revision::help(&refs) });
            }
        };
        let obj = self.git.revparse_single(&format!("{target}{suffix}")).map_err(|_| unknown())?;
        let commit = obj.peel_to_commit().map_err(|_| unknown())?;
        Ok(commit.id())
    }

    fn unknown(&self, rev: &str) -> RepoError {
        RepoError::UnknownRevision {
            rev: rev.to_owned(),
            help: if self.is_shallow() {
                format!("this is a shallow clone, so `{rev}` may not have been fetched: {FETCH_HELP}")
            } else {
                format!(
                    "check the name (`git rev-parse {rev}`), or fetch it: {FETCH_HELP}. A revision starts with a \
                     branch, tag, full ref (`refs/…`) or commit id"
                )
            },
        }
    }

    /// The merge base of two commits, failing with advice when history is missing.
    pub(crate) fn merge_base(&self, base_rev: &str, base: Oid, head_rev: &str, head: Oid) -> Result<Oid, RepoError> {
        self.git.merge_base(base, head).map_err(|_| {
            let shallow = self.is_shallow();
            RepoError::NoMergeBase {
                base: base_rev.to_owned(),
                head: head_rev.to_owned(),
                shallow,
                help: if shallow {
                    format!(
                        "the common ancestor is outside the fetched history; {FETCH_HELP}. \
                             faultline never treats missing history as \"nothing changed\"."
                    )
                } else {
                    "the two revisions share no history; compare revisions of the same project".to_owned()
                },
            }
        })
    }

    /// The file at `path` (relative to the root) in `snap`, or `None` if it does not exist.
    /// At most `cap` bytes: a bigger file is an error (a blob's size is checked before it is
    /// loaded). In the working tree, a link out of the repository or to anything but a
    /// regular file is an error ([`crate::bounded::read`]); in a commit, a link is.
    pub(crate) fn read(&self, snap: &Snapshot, path: &str, cap: u64) -> Result<Option<Vec<u8>>, RepoError> {
        match snap {
            Snapshot::Worktree => Ok(crate::bounded::read(&self.root.join(path), Some(&self.root), cap)?),
            Snapshot::Commit { rev, oid } => {
                let tree = self.git.find_commit(*oid).and_then(|c| c.tree()).map_err(git_err("read commit tree"))?;
                let entry = match tree.get_path(Path::new(path)) {
                    Ok(e) => e,
                    Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                    Err(e) => return Err(git_err(format!("look up {path}"))(e)),
                };
                if entry.kind() != Some(ObjectType::Blob) {
                    return Ok(None);
                }
                self.blob(rev, path, entry.id(), entry.filemode(), cap).map(Some)
            }
        }
    }

    /// The blob `id` (the file `path` of `rev`, with git's `mode`), refused when it is a link
    /// or over `cap` bytes, which the object's header says before anything is loaded.
    fn blob(&self, rev: &str, path: &str, id: Oid, mode: i32, cap: u64) -> Result<Vec<u8>, RepoError> {
        const LINK: i32 = 0o120000;
        if mode == LINK {
            return Err(RepoError::Link { path: path.to_owned(), rev: rev.to_owned() });
        }
        let odb = self.git.odb().map_err(git_err("open the object database"))?;
        let (size, _) = odb.read_header(id).map_err(git_err(format!("read {path}")))?;
        let size = size as u64;
        if size > cap {
            return Err(RepoError::TooLarge { path: path.to_owned(), rev: rev.to_owned(), size, cap });
        }
        let blob = self.git.find_blob(id).map_err(git_err(format!("read {path}")))?;
        Ok(blob.content().to_vec())
    }

    /// Files below `dir` in `snap` whose names end with one of `exts`, as
    /// `(path relative to the root, bytes)`, sorted by path. Each is read as [`Repo::read`]
    /// reads one, at most `cap` bytes; an entry with a wanted name that is not a regular file
    /// (a FIFO, a link out of the repository, a link in a commit) is an error, never skipped.
    pub fn list(
        &self,
        snap: &Snapshot,
        dir: &str,
        exts: &[&str],
        cap: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
        let dir = dir.trim_end_matches('/');
        // `.YAML` is a YAML file too: extensions are matched without regard to case.
        let wanted = |name: &str| {
            exts.iter().any(|e| {
                name.len() >= e.len()
                    && name.is_char_boundary(name.len() - e.len())
                    && name[name.len() - e.len()..].eq_ignore_ascii_case(e)
            })
        };
        let mut out = match snap {
            Snapshot::Worktree => self.list_worktree(dir, &wanted, cap)?,
            Snapshot::Commit { rev, oid } => {
                let tree = self.git.find_commit(*oid).and_then(|c| c.tree()).map_err(git_err("read commit tree"))?;
                let sub = match tree.get_path(Path::new(dir)) {
                    Ok(e) if e.kind() == Some(ObjectType::Tree) => {
                        self.git.find_tree(e.id()).map_err(git_err(format!("read {dir}")))?
                    }
                    _ => return Ok(Vec::new()),
                };
                let mut found = Vec::new();
                sub.walk(TreeWalkMode::PreOrder, |parent, entry| {
                    if entry.kind() == Some(ObjectType::Blob)
                        && let Some(name) = entry.name().ok().filter(|n| wanted(n))
                    {
                        found.push((format!("{dir}/{parent}{name}"), entry.id(), entry.filemode()));
                    }
                    TreeWalkResult::Ok
                })
                .map_err(git_err(format!("walk {dir}")))?;
                let mut out = Vec::new();
                for (path, id, mode) in found {
                    let bytes = self.blob(rev, &path, id, mode, cap)?;
                    out.push((path, bytes));
                }
                out
            }
        };
        out.sort();
        Ok(out)
    }

    /// The working tree's part of [`Repo::list`]: directories are walked without following
    /// links; every entry with a wanted name goes through [`crate::bounded::read`].
    fn list_worktree(
        &self,
        dir: &str,
        wanted: &dyn Fn(&str) -> bool,
        cap: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, RepoError> {
        let mut out = Vec::new();
        let mut pending = vec![self.root.join(dir)];
        while let Some(d) = pending.pop() {
            let entries = match std::fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RepoError::Io { path: d, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| RepoError::Io { path: d.clone(), source })?;
                let p = entry.path();
                let ty = entry.file_type().map_err(|source| RepoError::Io { path: p.clone(), source })?;
                if ty.is_dir() {
                    pending.push(p);
                } else if p.file_name().and_then(|n| n.to_str()).is_some_and(wanted) {
                    // A FIFO, a socket, a device or a link named like a scenario is refused by
                    // the bounded read, not skipped: a scenario must not vanish quietly.
                    if let Some(bytes) = crate::bounded::read(&p, Some(&self.root), cap)? {
                        let rel = p.strip_prefix(&self.root).unwrap_or(&p).to_string_lossy().into_owned();
                        out.push((rel, bytes));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Points HEAD at a new branch `name` at `at`, with the working tree checked out.
pub(crate) fn branch_from(git: &git2::Repository, name: &str, at: git2::Oid) -> Result<(), git2::Error> {
    let commit = git.find_commit(at)?;
    git.branch(name, &commit, true)?;
    git.checkout_tree(commit.as_object(), Some(git2::build::CheckoutBuilder::new().force()))?;
    git.set_head(&format!("refs/heads/{name}"))?;
    Ok(())
}

/// Stages everything in the working tree and commits it on HEAD.
pub(crate) fn commit_all(
    git: &git2::Repository,
    who: &git2::Signature<'_>,
    message: &str,
    parents: &[git2::Oid],
) -> Result<git2::Oid, git2::Error> {
    let mut index = git.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = git.find_tree(index.write_tree()?)?;
    let parents = parents.iter().map(|p| git.find_commit(*p)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    git.commit(Some("HEAD"), who, who, message, &tree, &refs)
}
