//! What a revision's name means, without git's guesswork deciding for the user.
//!
//! git reads a short name as the first of `NAME`, `refs/NAME`, `refs/tags/NAME`,
//! `refs/heads/NAME`, `refs/remotes/NAME`, `refs/remotes/NAME/HEAD` that exists, then as an
//! abbreviated object id, then as `git describe` output (`v1.2-3-gabc1234`) (`git help
//! revisions`; libgit2 reads them in the same order). Whoever can push a tag or a branch can
//! therefore make `origin/main` (a tag `origin/main`), `main` (a tag `main` beside the branch)
//! or `1a2b3c4` (a branch of that name) mean their own commit. Here every reading that exists
//! is collected, and more than one is an error naming each; the one reading left is handed to
//! libgit2 in full (a full ref name or a full object id), so it cannot guess again.

use git2::{ErrorCode, Oid, Repository};

/// What the name part of a revision means.
pub(super) enum Meaning {
    /// Exactly one thing: a full ref name or a full object id, for `revparse`.
    One(String),
    /// Nothing.
    None,
    /// Several things: each described with its commit, and the full refs among them.
    Many(Vec<String>, Vec<String>),
}

/// The name a revision starts with, and the rest (`~2`, `^{tree}`, `@{1}`, `:path`). Ref
/// names cannot hold `~`, `^`, `:` or `@{` (`git check-ref-format`), so the first of them ends
/// the name.
pub(super) fn split(rev: &str) -> (&str, &str) {
    let cut = rev
        .char_indices()
        .find(|&(i, c)| matches!(c, '~' | '^' | ':') || rev[i..].starts_with("@{"))
        .map_or(rev.len(), |(i, _)| i);
    rev.split_at(cut)
}

/// Every reading of `name` git could take, in its order.
pub(super) fn meaning(git: &Repository, name: &str) -> Meaning {
    // `@` alone is HEAD; a revision without a name (`:/text`, `@{-1}`, `^{…}`) is refused:
    // it names no branch, tag or commit the gate could show.
    let name = if name == "@" { "HEAD" } else { name };
    if name.is_empty() {
        return Meaning::None;
    }
    if is_hex(name) && (name.len() == 40 || name.len() == 64) {
        // A full object id is that object, or nothing; never a ref that shares its name.
        return match Oid::from_str(name).ok().filter(|oid| git.find_object(*oid, None).is_ok()) {
            Some(_) => Meaning::One(name.to_ascii_lowercase()),
            None => Meaning::None,
        };
    }
    if name.starts_with("refs/") {
        // A full ref is that ref (libgit2 tries the name as it is first).
        return if git.find_reference(name).is_ok() { Meaning::One(name.to_owned()) } else { Meaning::None };
    }
    let mut found: Vec<(String, String)> = refs(name)
        .into_iter()
        .filter_map(|full| git.find_reference(&full).ok().map(|r| (describe_ref(&full, &r), full)))
        .collect();
    for (what, id) in objects(git, name) {
        found.push((what, id));
    }
    match found.len() {
        0 => Meaning::None,
        // An abbreviated id of several objects has no full id: it is ambiguous by itself.
        1 if !found[0].1.is_empty() => Meaning::One(found.remove(0).1),
        _ => {
            let full = found.iter().filter(|(_, f)| f.starts_with("refs/")).map(|(_, f)| f.clone()).collect();
            Meaning::Many(found.into_iter().map(|(what, _)| what).collect(), full)
        }
    }
}

/// The refs `name` could mean, in git's order.
fn refs(name: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(6);
    // `NAME` itself only when it is a valid ref name (`HEAD`, `FETCH_HEAD`): libgit2 refuses
    // to look up others.
    if git2::Reference::is_valid_name(name) {
        out.push(name.to_owned());
    }
    for prefix in ["refs/", "refs/tags/", "refs/heads/", "refs/remotes/"] {
        out.push(format!("{prefix}{name}"));
    }
    out.push(format!("refs/remotes/{name}/HEAD"));
    out
}

/// The objects `name` could mean: an abbreviated id, or the id at the end of `git describe`
/// output. `(description, full id)`.
fn objects(git: &Repository, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut by_prefix = |hex: &str, how: &str| {
        if !(4..40).contains(&hex.len()) || !is_hex(hex) {
            return;
        }
        match git.find_object_by_prefix(hex, None) {
            Ok(obj) => {
                let id = obj.id().to_string();
                let commit = obj.peel_to_commit().map(|c| short(&c.id().to_string()).to_owned()).ok();
                out.push((
                    format!(
                        "{how} {} ({})",
                        short(&id),
                        commit.map_or("not a commit".to_owned(), |c| format!("commit {c}"))
                    ),
                    id,
                ));
            }
            Err(e) if e.code() == ErrorCode::Ambiguous => {
                out.push((format!("several objects whose ids start with `{hex}`"), String::new()));
            }
            Err(_) => {}
        }
    };
    by_prefix(name, "the object");
    let counted = |described: &str| {
        described
            .rsplit_once('-')
            .is_some_and(|(tag, n)| !tag.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some((described, hex)) = name.rsplit_once("-g")
        && counted(described)
    {
        by_prefix(hex, "the `git describe` name of the object");
    }
    out
}

/// `the tag refs/tags/main (commit 1a2b3c4d5e6f)`.
fn describe_ref(full: &str, r: &git2::Reference<'_>) -> String {
    let kind = if full.starts_with("refs/tags/") {
        "the tag"
    } else if full.starts_with("refs/heads/") {
        "the branch"
    } else if full.starts_with("refs/remotes/") {
        "the remote-tracking branch"
    } else {
        "the ref"
    };
    let commit = r.peel_to_commit().map(|c| format!("commit {}", short(&c.id().to_string())));
    format!("{kind} {full} ({})", commit.unwrap_or_else(|_| "not a commit".to_owned()))
}

/// What to do about an ambiguous name whose refs are `refs`.
pub(super) fn help(refs: &[String]) -> String {
    let named: Vec<String> = refs.iter().map(|r| format!("`{r}`")).collect();
    format!(
        "git would pick one of them silently, and whoever can push a tag or a branch could choose which. \
         Name the one you mean in full{}, or by its commit id: a full ref (`refs/heads/…`, \
         `refs/remotes/…`, `refs/tags/…`) or a commit id means exactly that. Better, delete the ref \
         that should not be there.",
        if named.is_empty() { String::new() } else { format!(" ({})", named.join(", ")) }
    )
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_name_ends_where_git_syntax_begins() {
        assert_eq!(split("origin/main~2"), ("origin/main", "~2"));
        assert_eq!(split("main^{tree}"), ("main", "^{tree}"));
        assert_eq!(split("main@{1}"), ("main", "@{1}"));
        assert_eq!(split("a@b"), ("a@b", ""));
        assert_eq!(split("HEAD:src/a.rs"), ("HEAD", ":src/a.rs"));
        assert_eq!(split(":/fix"), ("", ":/fix"));
        assert_eq!(split("é~1"), ("é", "~1"));
    }
}
