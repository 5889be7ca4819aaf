//! Corpora of changes to the example shop: `fixtures/bugs/` (plausible AI-written changes
//! that take production down, which the gate must block) and `fixtures/changes/` (good
//! changes it must allow). The demo gates one of each; `ci/detect` gates them all.
//!
//! An entry is a folder in one format that other corpora can use too:
//!
//! - `change.patch`: applies with `git apply` to the shop as committed;
//! - `message`: the commit message, trailers included (AI assistance, sign-off);
//! - `expect`: `block` or `allow`;
//! - `approved-by` (optional): the approvals the code host would hand the gate, one email a
//!   line (`--approved-by`); approval trailers in `message` count for nothing;
//! - `README.md`: the incident the change would cause and the scenario meant to catch it.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};

use crate::outcome::Decision;

/// One change of a corpus.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The folder's name; also the branch the change is committed on.
    pub name: String,
    pub dir: PathBuf,
    pub patch: String,
    pub message: String,
    /// `Block` or `Allow`.
    pub expect: Decision,
    /// Approvals from outside the change (`approved-by`), passed as `--approved-by`.
    pub approved_by: Vec<String>,
    pub readme: String,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CorpusError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: `expect` says `{found}`; write `block` or `allow`", dir.display())]
    BadExpect { dir: PathBuf, found: String },
    #[error("{}: change.patch is empty", dir.display())]
    EmptyPatch { dir: PathBuf },
    #[error("{} holds no entries (folders with change.patch, message, expect, README.md)", dir.display())]
    Empty { dir: PathBuf },
    #[error("{name}: change.patch does not apply to the shop: {reason}")]
    #[diagnostic(help("the patch must apply with `git apply` to the shop as committed (fixtures/shop)"))]
    Apply { name: String, reason: String },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// The corpora that ship with faultline: the bugs and the good changes.
pub fn default_dirs() -> Vec<PathBuf> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    vec![fixtures.join("bugs"), fixtures.join("changes")]
}

fn read(path: PathBuf) -> Result<String, CorpusError> {
    std::fs::read_to_string(&path).map_err(|source| CorpusError::Io { path, source })
}

/// Reads one entry.
pub fn load_entry(dir: &Path) -> Result<Entry, CorpusError> {
    let patch = read(dir.join("change.patch"))?;
    if patch.trim().is_empty() {
        return Err(CorpusError::EmptyPatch { dir: dir.to_path_buf() });
    }
    let expect = match read(dir.join("expect"))?.trim() {
        "block" => Decision::Block,
        "allow" => Decision::Allow,
        other => return Err(CorpusError::BadExpect { dir: dir.to_path_buf(), found: other.to_owned() }),
    };
    Ok(Entry {
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        dir: dir.to_path_buf(),
        patch,
        message: read(dir.join("message"))?,
        expect,
        approved_by: match std::fs::read_to_string(dir.join("approved-by")) {
            Ok(t) => {
                t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(CorpusError::Io { path: dir.join("approved-by"), source }),
        },
        readme: read(dir.join("README.md"))?,
    })
}

/// Reads every entry of a corpus folder, sorted by name.
pub fn load(dir: &Path) -> Result<Vec<Entry>, CorpusError> {
    let io = |source| CorpusError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        if e.file_type().map_err(io)?.is_dir() {
            out.push(load_entry(&e.path())?);
        }
    }
    if out.is_empty() {
        return Err(CorpusError::Empty { dir: dir.to_path_buf() });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The scenario the entry's README names as the one meant to catch it (`**Caught by**
/// `name``), if any.
pub fn meant_to_catch(entry: &Entry) -> Vec<String> {
    let Some(i) = entry.readme.find("**Caught by**") else { return Vec::new() };
    let text = &entry.readme[i..];
    let para = text.split("\n\n").next().unwrap_or(text);
    para.split('`').skip(1).step_by(2).filter(|s| !s.contains(' ')).map(str::to_owned).collect()
}

/// Commits `entry` in the repository at `root` on a new branch named after it, off `base`,
/// by `Sam Dev`, with the entry's message; leaves `main` checked out. Returns the commit.
pub fn commit(root: &Path, base: Oid, entry: &Entry) -> Result<Oid, CorpusError> {
    let git = Repository::open(root)?;
    let dev = Signature::now("Sam Dev", "sam@shop.example")?;
    crate::repo::branch_from(&git, &entry.name, base)?;
    let diff = git2::Diff::from_buffer(entry.patch.as_bytes())
        .map_err(|e| CorpusError::Apply { name: entry.name.clone(), reason: e.message().to_owned() })?;
    git.apply(&diff, git2::ApplyLocation::Both, None)
        .map_err(|e| CorpusError::Apply { name: entry.name.clone(), reason: e.message().to_owned() })?;
    let oid = crate::repo::commit_all(&git, &dev, &entry.message, &[base])?;
    let main = git.find_commit(base)?;
    git.checkout_tree(main.as_object(), Some(git2::build::CheckoutBuilder::new().force()))?;
    git.set_head("refs/heads/main")?;
    Ok(oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_meant_to_catch_a_bug_is_read_from_its_readme() {
        let e = Entry {
            name: "x".into(),
            dir: PathBuf::new(),
            patch: String::new(),
            message: String::new(),
            expect: Decision::Block,
            approved_by: Vec::new(),
            readme: "# x\n\n**Caught by** `payments-slow` (at most 3 attempts on `orders -> payments`) and\n`payments-down`.\n\nmore `not-this`".into(),
        };
        assert_eq!(meant_to_catch(&e), ["payments-slow", "payments-down"]);
    }
}
