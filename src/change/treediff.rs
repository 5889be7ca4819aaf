//! A tree-to-tree diff that skips identical subtrees, with git-style rename detection.
//!
//! libgit2's `diff_tree_to_tree` visits every entry of both trees, and its copy detection
//! reads every modified blob; on a 100,000-file repository that is several times slower than
//! `git diff`. Here a subtree whose id did not change is never opened, renames are paired
//! first by identical content (blob id) and then by similarity, and copies are found when a
//! new file has exactly the base content of a file the change modifies or deletes.
//!
//! Similarity follows git's idea: files are cut into chunks (a line, at most 64 bytes), and
//! the score is the bytes of chunks both sides share over the size of the larger side. A
//! pair scoring 50% or more is a rename, best scores first, each file used once.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use git2::{FileMode, ObjectType, Oid, Repository, Tree, TreeEntry};

use super::{ChangeStatus, ChangedPath, RepoPath};
use crate::repo::{RepoError, git_err};

/// Similarity needed to call an added/deleted pair a rename, in percent (git's default).
const RENAME_THRESHOLD: u64 = 50;
/// Like git's `diff.renameLimit`: beyond this many candidate pairs, only exact renames.
const MAX_PAIRS: usize = 1_000 * 1_000;
/// A blob bigger than this is not loaded to look for an inexact rename (its size is read
/// from the object's header first): it is a rename only of an identical blob. git treats
/// files over `core.bigFileThreshold` (512 MiB) as binary; a change's huge file must not
/// make the gate load it into memory, whole, for a similarity score.
const MAX_SIMILARITY_BYTES: usize = 64 << 20;

struct Side {
    path: Vec<u8>,
    oid: Oid,
    mode: i32,
}

#[derive(Default)]
struct Raw {
    added: Vec<Side>,
    deleted: Vec<Side>,
    /// `(path, old, new, typechange)`.
    modified: Vec<(Vec<u8>, Side, Side, bool)>,
}

/// The changes from `old` to `new`, renames and exact copies detected, sorted by path.
pub(crate) fn diff_trees(git: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<Vec<ChangedPath>, RepoError> {
    let mut raw = Raw::default();
    let mut prefix = Vec::new();
    walk(git, Some(old), Some(new), &mut prefix, &mut raw)?;
    let mut out = Vec::with_capacity(raw.added.len() + raw.deleted.len() + raw.modified.len());
    for (path, _, _, typechange) in &raw.modified {
        let status = if *typechange { ChangeStatus::Typechange } else { ChangeStatus::Modified };
        out.push(ChangedPath { path: RepoPath::new(path.clone()), status, old_path: None });
    }
    let renames = pair_renames(git, &raw.added, &raw.deleted)?;
    let mut added_used = vec![false; raw.added.len()];
    let mut deleted_used = vec![false; raw.deleted.len()];
    for (a, d) in renames {
        added_used[a] = true;
        deleted_used[d] = true;
        out.push(ChangedPath {
            path: RepoPath::new(raw.added[a].path.clone()),
            status: ChangeStatus::Renamed,
            old_path: Some(RepoPath::new(raw.deleted[d].path.clone())),
        });
    }
    // Exact copies: a new file whose content is the base version of a file the change touches.
    let mut sources: HashMap<Oid, &[u8]> = HashMap::new();
    for (path, old, _, _) in &raw.modified {
        sources.entry(old.oid).or_insert(path);
    }
    for d in &raw.deleted {
        sources.entry(d.oid).or_insert(&d.path);
    }
    for (_, a) in raw.added.iter().enumerate().filter(|(i, _)| !added_used[*i]) {
        let path = RepoPath::new(a.path.clone());
        match sources.get(&a.oid) {
            Some(src) if a.mode != i32::from(FileMode::Commit) => out.push(ChangedPath {
                path,
                status: ChangeStatus::Copied,
                old_path: Some(RepoPath::new(src.to_vec())),
            }),
            _ => out.push(ChangedPath { path, status: ChangeStatus::Added, old_path: None }),
        }
    }
    for (d, _) in raw.deleted.iter().enumerate().filter(|(d, _)| !deleted_used[*d]) {
        out.push(ChangedPath {
            path: RepoPath::new(raw.deleted[d].path.clone()),
            status: ChangeStatus::Deleted,
            old_path: None,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// git's order of tree entries: names compared bytewise, a directory as if it ended in `/`.
fn git_order(a: &TreeEntry<'_>, b: &TreeEntry<'_>) -> Ordering {
    let (x, y) = (a.name_bytes(), b.name_bytes());
    let n = x.len().min(y.len());
    x[..n].cmp(&y[..n]).then_with(|| {
        let tail = |name: &[u8], e: &TreeEntry<'_>| match name.get(n) {
            Some(&c) => c,
            None if e.kind() == Some(ObjectType::Tree) => b'/',
            None => 0,
        };
        tail(x, a).cmp(&tail(y, b))
    })
}

/// Merges the entries of two trees in git's order; identical subtrees are skipped unopened.
fn walk(
    git: &Repository,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
    prefix: &mut Vec<u8>,
    raw: &mut Raw,
) -> Result<(), RepoError> {
    let mut a = old.into_iter().flat_map(|t| t.iter()).peekable();
    let mut b = new.into_iter().flat_map(|t| t.iter()).peekable();
    loop {
        let ord = match (a.peek(), b.peek()) {
            (None, None) => return Ok(()),
            (Some(x), Some(y)) => git_order(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        };
        match ord {
            Ordering::Less => side(git, &a.next().expect("peeked"), prefix, raw, false)?,
            Ordering::Greater => side(git, &b.next().expect("peeked"), prefix, raw, true)?,
            Ordering::Equal => {
                let (x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                if x.id() == y.id() && x.filemode() == y.filemode() {
                    continue;
                }
                if x.kind() == Some(ObjectType::Tree) {
                    let len = prefix.len();
                    prefix.extend_from_slice(x.name_bytes());
                    prefix.push(b'/');
                    let (ot, nt) = (find_tree(git, x.id())?, find_tree(git, y.id())?);
                    walk(git, Some(&ot), Some(&nt), prefix, raw)?;
                    prefix.truncate(len);
                } else {
                    let path = [prefix.as_slice(), x.name_bytes()].concat();
                    let typechange = kind_of(x.filemode()) != kind_of(y.filemode());
                    raw.modified.push((
                        path.clone(),
                        Side { path: path.clone(), oid: x.id(), mode: x.filemode() },
                        Side { path, oid: y.id(), mode: y.filemode() },
                        typechange,
                    ));
                }
            }
        }
    }
}

/// An entry present on one side only: a file, or every file of a subtree.
fn side(
    git: &Repository,
    e: &TreeEntry<'_>,
    prefix: &mut Vec<u8>,
    raw: &mut Raw,
    added: bool,
) -> Result<(), RepoError> {
    if e.kind() == Some(ObjectType::Tree) {
        let len = prefix.len();
        prefix.extend_from_slice(e.name_bytes());
        prefix.push(b'/');
        let t = find_tree(git, e.id())?;
        if added {
            walk(git, None, Some(&t), prefix, raw)?
        } else {
            walk(git, Some(&t), None, prefix, raw)?
        }
        prefix.truncate(len);
    } else {
        let s = Side { path: [prefix.as_slice(), e.name_bytes()].concat(), oid: e.id(), mode: e.filemode() };
        if added { raw.added.push(s) } else { raw.deleted.push(s) }
    }
    Ok(())
}

fn find_tree(git: &Repository, oid: Oid) -> Result<Tree<'_>, RepoError> {
    git.find_tree(oid).map_err(git_err(format!("read tree {oid}")))
}

/// Regular file, symlink or submodule: a change between these is a typechange.
fn kind_of(mode: i32) -> u8 {
    match mode {
        m if m == i32::from(FileMode::Link) => 1,
        m if m == i32::from(FileMode::Commit) => 2,
        _ => 0,
    }
}

/// Pairs added files with deleted ones: identical content first, then similarity.
fn pair_renames(git: &Repository, added: &[Side], deleted: &[Side]) -> Result<Vec<(usize, usize)>, RepoError> {
    let mut pairs = Vec::new();
    let mut a_used = vec![false; added.len()];
    let mut d_used = vec![false; deleted.len()];
    let mut by_oid: HashMap<Oid, Vec<usize>> = HashMap::new();
    for (d, s) in deleted.iter().enumerate().rev() {
        if kind_of(s.mode) == 0 {
            by_oid.entry(s.oid).or_default().push(d);
        }
    }
    for (a, s) in added.iter().enumerate() {
        if kind_of(s.mode) != 0 {
            continue;
        }
        if let Some(d) = by_oid.get_mut(&s.oid).and_then(Vec::pop) {
            pairs.push((a, d));
            a_used[a] = true;
            d_used[d] = true;
        }
    }
    let rest_a: Vec<usize> = (0..added.len()).filter(|&a| !a_used[a] && kind_of(added[a].mode) == 0).collect();
    let rest_d: Vec<usize> = (0..deleted.len()).filter(|&d| !d_used[d] && kind_of(deleted[d].mode) == 0).collect();
    if rest_a.is_empty() || rest_d.is_empty() {
        return Ok(pairs);
    }
    if rest_a.len() * rest_d.len() > MAX_PAIRS {
        tracing::warn!(
            added = rest_a.len(),
            deleted = rest_d.len(),
            "too many candidates: only exact renames detected"
        );
        return Ok(pairs);
    }
    let odb = git.odb().map_err(git_err("open the object database"))?;
    let sig = |s: &Side| -> Result<Signature, RepoError> {
        let (size, _) = odb.read_header(s.oid).map_err(git_err(format!("read blob {}", s.oid)))?;
        if size > MAX_SIMILARITY_BYTES {
            // No chunks: it shares nothing with any other blob, so it pairs with none.
            return Ok(Signature { chunks: HashMap::new(), size: size as u64 });
        }
        let blob = git.find_blob(s.oid).map_err(git_err(format!("read blob {}", s.oid)))?;
        Ok(Signature::of(blob.content()))
    };
    let sig_a = rest_a.iter().map(|&a| sig(&added[a])).collect::<Result<Vec<_>, _>>()?;
    let sig_d = rest_d.iter().map(|&d| sig(&deleted[d])).collect::<Result<Vec<_>, _>>()?;
    let mut scored = Vec::new();
    for (ia, sa) in sig_a.iter().enumerate() {
        for (id, sd) in sig_d.iter().enumerate() {
            let score = sa.similarity(sd);
            if score >= RENAME_THRESHOLD {
                scored.push((score, ia, id));
            }
        }
    }
    // Best score first; ties broken by path order so the result is deterministic.
    scored.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    for (_, ia, id) in scored {
        let (a, d) = (rest_a[ia], rest_d[id]);
        if !a_used[a] && !d_used[d] {
            a_used[a] = true;
            d_used[d] = true;
            pairs.push((a, d));
        }
    }
    Ok(pairs)
}

/// Bytes per chunk hash, and the total size.
struct Signature {
    chunks: HashMap<u64, u64>,
    size: u64,
}

impl Signature {
    fn of(data: &[u8]) -> Signature {
        let mut chunks: HashMap<u64, u64> = HashMap::new();
        let state = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let mut start = 0;
        while start < data.len() {
            let max = (start + 64).min(data.len());
            let end = data[start..max].iter().position(|&b| b == b'\n').map_or(max, |p| start + p + 1);
            let mut h = state.build_hasher();
            h.write(&data[start..end]);
            *chunks.entry(h.finish()).or_default() += (end - start) as u64;
            start = end;
        }
        Signature { chunks, size: data.len() as u64 }
    }

    /// Shared bytes over the larger size, in percent. Two empty files are identical.
    fn similarity(&self, other: &Signature) -> u64 {
        let max = self.size.max(other.size);
        if max == 0 {
            return 100;
        }
        let (small, large) = if self.chunks.len() <= other.chunks.len() { (self, other) } else { (other, self) };
        let shared: u64 = small.chunks.iter().map(|(h, n)| large.chunks.get(h).map_or(0, |m| (*n).min(*m))).sum();
        shared * 100 / max
    }
}

#[cfg(test)]
mod tests {
    use super::Signature;

    #[test]
    fn similarity_is_shared_bytes_over_larger_size() {
        let a = Signature::of(b"one\ntwo\nthree\nfour\n");
        let b = Signature::of(b"one\ntwo\nthree\nFOUR!\n");
        assert_eq!(a.similarity(&b), 14 * 100 / 20);
        assert_eq!(a.similarity(&a), 100);
        assert_eq!(Signature::of(b"").similarity(&Signature::of(b"")), 100);
        assert_eq!(a.similarity(&Signature::of(b"x\n")), 0);
    }
}
