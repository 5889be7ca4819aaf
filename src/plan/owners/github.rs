//! GitHub's CODEOWNERS, as "About code owners" (docs.github.com) describes it: gitignore
//! patterns, owners `@user`, `@org/team` or an email, `#` comments (inline ones too), the last
//! matching line wins, a line with no owners leaves its paths without an owner.
//!
//! - A pattern without a `/`, or with only a trailing one, matches at any depth (`*.js`,
//!   `apps/`); any other `/` anchors it at the root (`docs/*`, `/build/logs/`).
//! - A trailing `/` matches what is inside the directory; a last segment other than `*` and
//!   `**` also matches what is inside a directory of that name (`/apps/github`); `*` alone
//!   matches one segment, so `docs/*` owns `docs/a.md` but not `docs/x/a.md`.
//! - `**` matches any number of directories; `\ ` is a space of the path.
//! - What GitHub documents as not working in CODEOWNERS — `!` negation, `[ ]` ranges, `\#`
//!   escaping — and lines GitHub reports as errors (an owner that is no handle or email, `/`
//!   alone, `***`) are skipped: GitHub skips a line with invalid syntax, so its paths keep
//!   the owners of the lines before it. The plan lists each skipped line and why.
//!
//! The matching is the segment-by-segment reading of `pattern.rs`; it agrees with the
//! regular-expression translation of the widely used `hmarr/codeowners` (whose pattern table
//! the unit tests below follow).

use super::pattern::{SegGlob, Tok};

/// One line of a GitHub CODEOWNERS file.
#[derive(Debug)]
pub(super) enum Line {
    /// Blank, or a comment.
    Nothing,
    Rule {
        pattern: String,
        toks: Vec<Tok>,
        owners: Vec<String>,
    },
    /// A line GitHub skips, and why.
    Skipped(String),
}

/// Reads one line.
pub(super) fn line(raw: &str) -> Line {
    let t = raw.trim();
    if t.is_empty() || t.starts_with('#') {
        return Line::Nothing;
    }
    let (pattern, rest) = split_pattern(t);
    let unsupported = if pattern.starts_with('!') {
        Some("`!` (negation) does not work in GitHub's CODEOWNERS")
    } else if pattern.starts_with("\\#") {
        Some("escaping a leading `#` with `\\` does not work in GitHub's CODEOWNERS")
    } else if pattern.contains(['[', ']']) {
        Some("`[ ]` character ranges do not work in GitHub's CODEOWNERS")
    } else if pattern.contains("***") {
        Some("three `*` in a row is not a pattern")
    } else if pattern == "/" {
        Some("`/` matches nothing")
    } else {
        None
    };
    if let Some(why) = unsupported {
        return Line::Skipped(why.to_owned());
    }
    let mut owners = Vec::new();
    for w in rest.split_whitespace() {
        if w.starts_with('#') {
            break;
        }
        if !is_owner(w) {
            return Line::Skipped(format!("`{w}` is not an owner: GitHub takes @user, @org/team or an email"));
        }
        owners.push(w.to_owned());
    }
    Line::Rule { toks: compile(pattern), pattern: pattern.to_owned(), owners }
}

/// The pattern (up to the first whitespace not escaped by `\`) and the rest of the line.
fn split_pattern(t: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in t.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c.is_whitespace() {
            return (&t[..i], &t[i..]);
        }
    }
    (t, "")
}

/// `@login`, `@org/team` or an email.
fn is_owner(w: &str) -> bool {
    let handle = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if let Some(h) = w.strip_prefix('@') {
        return match h.split_once('/') {
            Some((org, team)) => handle(org) && handle(team),
            None => handle(h),
        };
    }
    match w.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// The tokens of a pattern, by the rules in the module's documentation.
pub(super) fn compile(pattern: &str) -> Vec<Tok> {
    let mut segs: Vec<&str> = pattern.split('/').collect();
    if segs[0].is_empty() {
        segs.remove(0);
    } else if (segs.len() == 1 || (segs.len() == 2 && segs[1].is_empty())) && segs[0] != "**" {
        // One segment: at any depth.
        segs.insert(0, "**");
    }
    let last = segs.len().saturating_sub(1);
    if segs.len() > 1 && segs[last].is_empty() {
        segs[last] = "**";
    }
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        match *seg {
            // `**` at the end (alone too): one segment or more.
            "**" if i == last => out.extend([Tok::Seg(SegGlob::any()), Tok::AnyDirs]),
            "**" => out.push(Tok::AnyDirs),
            "*" => out.push(Tok::Seg(SegGlob::any())),
            other => {
                out.push(Tok::Seg(SegGlob::parse(other, false)));
                if i == last {
                    out.push(Tok::AnyDirs);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::pattern::{Path, matches};
    use super::*;

    /// The pattern table of `hmarr/codeowners` (testdata/patterns.json), which follows
    /// GitHub's behaviour: `(pattern, [(path, matches)])`.
    #[test]
    fn patterns_match_as_github_matches_them() {
        let table: &[(&str, &[(&str, bool)])] = &[
            ("foo", &[("foo", true), ("foo.txt", false), ("foo/bar", true), ("bar/foo", true), ("bar/foo/baz", true)]),
            ("/foo", &[("foo", true), ("fool.txt", false), ("foo/bar/baz", true), ("bar/foo", false)]),
            ("foo/", &[("foo", false), ("foo/bar", true), ("bar/foo", false), ("bar/foo/baz/qux", true)]),
            ("/foo/", &[("foo", false), ("foo/bar/baz", true), ("bar/foo/baz", false)]),
            ("foo/bar", &[("foo/bar", true), ("foo/bart", false), ("foo/bar/baz", true), ("baz/foo/bar", false)]),
            ("/foo/bar", &[("foo/bar", true), ("foo/bar/baz", true), ("baz/foo/bar/qux", false)]),
            ("foo/bar/", &[("foo/bar", false), ("foo/bar/baz", true), ("baz/foo/bar/qux", false)]),
            ("*", &[("foo", true), ("foo/bar", true), ("bar/foo/baz", true)]),
            ("f*", &[("foo", true), ("foo/bar/baz", true), ("bar/foo", true), ("bar/baz", false), ("xfoo", false)]),
            ("/*", &[("foo", true), ("foo/bar", false)]),
            ("/f*", &[("foo", true), ("foo/bar", true), ("bar/foo", false)]),
            ("f*/", &[("foo", false), ("foo/bar", true), ("bar/foo/baz", true), ("bar/foo", false)]),
            ("/*/", &[("foo", false), ("foo/bar", true), ("bar/foo/baz", true)]),
            ("/f*/", &[("foo", false), ("foo/bar", true), ("bar/foo/baz", false)]),
            ("f\\*o", &[("foo", false), ("f*o", true)]),
            ("foo/*", &[("foo", false), ("foo/bar", true), ("foo/bar/baz", false), ("bar/foo", false)]),
            ("foo/*.txt", &[("foo/bar.txt", true), ("foo/bar/baz.txt", false), ("qux/foo/bar.txt", false)]),
            ("foo/*/baz", &[("foo/baz", false), ("foo/bar/baz", true), ("foo/bar/baz/qux", true)]),
            ("f?o", &[("foo", true), ("fo", false), ("fooo", false)]),
            ("f\\?o", &[("foo", false), ("f?o", true)]),
            ("**/foo/bar", &[("foo/bar", true), ("qux/foo/bar/baz", true), ("foo/baz/bar", false)]),
            ("**/*bar*", &[("bar", true), ("foo/rebar", true), ("foo/barrio", true), ("foo/qux/bar", true)]),
            (
                "foo/bar/**",
                &[("foo/bar", false), ("foo/bar/baz", true), ("foo/bar/baz/qux", true), ("qux/foo/bar/baz", false)],
            ),
            ("foo/**/bar", &[("foo/bar", true), ("foo/qux/quux/bar/baz", true), ("qux/foo/bar", false)]),
            ("foo/**/", &[("foo", false), ("foo/bar", true), ("foo/bar/baz", true)]),
            (
                "foo/**/bar/b*",
                &[("foo/bar", false), ("foo/bar/baz", true), ("foo/bar/qux", false), ("foo/qux/bar/baz", true)],
            ),
            ("path\\ with\\ spaces/", &[("path with spaces/a.md", true), ("path/a.md", false)]),
        ];
        for (pattern, paths) in table {
            let toks = compile(pattern);
            for (path, want) in *paths {
                assert_eq!(matches(&toks, &Path::new(path)), *want, "{pattern} against {path}");
            }
        }
    }

    #[test]
    fn lines_github_does_not_support_are_skipped_with_the_reason() {
        for (raw, why) in [
            ("!docs/ @a", "negation"),
            ("\\#notes @a", "escaping a leading `#`"),
            ("Python/ceval*.[ch] @a", "character ranges"),
            ("a/***/b @a", "three `*`"),
            ("/ @a", "matches nothing"),
            ("docs/ owner-without-at", "is not an owner"),
        ] {
            match line(raw) {
                Line::Skipped(reason) => assert!(reason.contains(why), "{raw}: {reason}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
        match line("*.js    @js-owner #This is an inline comment.") {
            Line::Rule { owners, .. } => assert_eq!(owners, ["@js-owner"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(line("   # a comment"), Line::Nothing));
        match line("/apps/github ") {
            Line::Rule { owners, .. } => assert!(owners.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
