//! GitLab's CODEOWNERS, as its "Syntax of CODEOWNERS file" and "Advanced CODEOWNERS
//! configuration" pages (docs.gitlab.com) describe it and `Gitlab::CodeOwners::File` does it:
//!
//! - Sections: `[Name]`, optional `^[Name]`, `[Name][N]` (N approvals; 0 or none is 1),
//!   default owners after the header (`[Name] @team`) for the section's entries that name
//!   none. Section names compare without case; sections of the same name are one. The
//!   entries before the first header are a section of their own. Every section applies: a
//!   path needs an owner of each section that owns it; within a section the last matching
//!   entry wins (an entry of the same pattern as an earlier one replaces it in place).
//! - Patterns are `File.fnmatch` with `FNM_PATHNAME | FNM_DOTMATCH`: `*` is `/**/*`; a pattern
//!   without a leading `/` is prefixed with `/**/`; a trailing `/` gets `**/*`; `**/` is any
//!   number of directories; `[…]` is a character class; `\ ` is a space; a leading `\#` is a
//!   `#`. Unlike GitHub's, a pattern without a trailing `/` names files only: `/docs` does
//!   not own `docs/a.md`.
//! - `!pattern` (GitLab 17.10+) excludes the paths it matches from its section, whatever
//!   the order.
//! - Owners are every `@name`, `@@role` and email found after the pattern (GitLab has no
//!   inline comments: owners in a trailing `# …` count too); an entry with none needs no
//!   approval in its section ("zero owners … GitLab auto-approves it").
//! - A header that does not parse (`[Section name`) is an entry, as in GitLab.

use std::sync::LazyLock;

use super::pattern::{SegGlob, Tok};

/// A section header.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Header {
    pub name: String,
    pub optional: bool,
    /// 0 when not written; GitLab reads 0 as 1.
    pub approvals: u32,
    /// The default owners' text.
    pub defaults: String,
}

/// One line of a GitLab CODEOWNERS file.
#[derive(Debug)]
pub(super) enum Line {
    Nothing,
    Header(Header),
    Entry {
        /// As written, `!` removed.
        pattern: String,
        /// `File.fnmatch`'s pattern, as GitLab normalises it: entries of the same key are one.
        key: String,
        toks: Vec<Tok>,
        exclusion: bool,
        /// The text after the pattern; empty when none.
        owners: String,
    },
}

/// Reads one line.
pub(super) fn line(raw: &str) -> Line {
    let t = raw.trim();
    if t.is_empty() || t.starts_with('#') {
        return Line::Nothing;
    }
    if let Some(h) = header(t) {
        return Line::Header(h);
    }
    let (pattern, owners) = split_entry(t);
    let (exclusion, pattern) = match pattern.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let key = normalize(pattern);
    Line::Entry { toks: compile(&key), key, pattern: pattern.to_owned(), exclusion, owners: owners.to_owned() }
}

/// `^?[name]([digits])?(\s+[@\w_.\-/\s+]*)?` at the start of the line, as GitLab's
/// `SectionParser` matches it (what follows is ignored).
fn header(t: &str) -> Option<Header> {
    let (optional, rest) = match t.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let rest = rest.strip_prefix('[')?;
    let close = rest.find(']')?;
    let name = rest[..close].to_owned();
    let mut rest = &rest[close + 1..];
    let mut approvals = 0;
    if let Some(r) = rest.strip_prefix('[')
        && let Some(end) = r.find(']')
        && r[..end].bytes().all(|b| b.is_ascii_digit())
    {
        approvals = r[..end]
            .parse::<u64>()
            .map_or(if end == 0 { 0 } else { u32::MAX }, |n| u32::try_from(n).unwrap_or(u32::MAX));
        rest = &r[end + 1..];
    }
    let defaults = if rest.starts_with(is_space) {
        let end = rest
            .find(|c: char| !(is_space(c) || c.is_ascii_alphanumeric() || "@_.-/+".contains(c)))
            .unwrap_or(rest.len());
        rest[..end].trim().to_owned()
    } else {
        String::new()
    };
    Some(Header { name, optional, approvals, defaults })
}

/// Ruby's `\s`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// `line.partition(/(?<!\\)\s+/)`: the pattern, and the text after the first run of
/// whitespace not preceded by a `\`.
fn split_entry(t: &str) -> (&str, &str) {
    let mut prev = None;
    for (i, c) in t.char_indices() {
        if is_space(c) && prev != Some('\\') {
            let rest = &t[i..];
            return (&t[..i], rest.trim_start_matches(is_space));
        }
        prev = Some(c);
    }
    (t, "")
}

/// GitLab's `normalize_pattern`.
fn normalize(pattern: &str) -> String {
    if pattern == "*" {
        return "/**/*".into();
    }
    let p = match pattern.strip_prefix("\\#") {
        Some(r) => format!("#{r}"),
        None => pattern.to_owned(),
    };
    // `\` followed by whitespace: one space.
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| is_space(*n)) {
            while chars.peek().is_some_and(|n| is_space(*n)) {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    if !out.starts_with('/') {
        out.insert_str(0, "/**/");
    }
    if out.ends_with('/') {
        out.push_str("**/*");
    }
    out
}

/// `File.fnmatch`'s reading of a normalised pattern (which starts with `/`) with
/// `FNM_PATHNAME`: `**` followed by `/` is any number of directories, any other `**` is `*`.
fn compile(key: &str) -> Vec<Tok> {
    let segs: Vec<&str> = key.strip_prefix('/').unwrap_or(key).split('/').collect();
    let last = segs.len() - 1;
    segs.iter()
        .enumerate()
        .map(|(i, s)| if *s == "**" && i < last { Tok::AnyDirs } else { Tok::Seg(SegGlob::parse(s, true)) })
        .collect()
}

static EMAIL: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"[^@\s]{1,100}@[^@\s]{0,254}[A-Za-z0-9_]").expect("valid regex"));
static NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    let part = r"(?:[A-Za-z0-9_.][A-Za-z0-9_.\-]*[A-Za-z0-9_\-]|[A-Za-z0-9_])";
    regex::Regex::new(&format!(r"@({part}(?:/{part})*)")).expect("valid regex")
});

/// The roles GitLab takes as owners (`@@developer`, plural too).
const ROLES: [&str; 3] = ["developer", "maintainer", "owner"];

/// The owners GitLab's `ReferenceExtractor` finds in `text`: emails, then `@names` (not
/// preceded by a word character or `@`), then `@@roles`; each once.
pub(super) fn owners(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for m in EMAIL.find_iter(text) {
        push(m.as_str().to_owned());
    }
    for c in NAME.captures_iter(text) {
        let Some(whole) = c.get(0) else { continue };
        let before = text[..whole.start()].chars().next_back();
        if before.is_some_and(|b| b == '@' || b == '_' || b.is_ascii_alphanumeric()) {
            continue;
        }
        push(format!("@{}", &c[1]));
    }
    for role in ROLES {
        let written = |w: &str| {
            let w = w.to_ascii_lowercase();
            w.strip_prefix("@@").is_some_and(|r| r == role || r.strip_suffix('s') == Some(role))
        };
        if text.split(is_space).any(written) {
            push(format!("@@{role}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::pattern::matches;
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        matches(&compile(&normalize(pattern)), &super::super::pattern::Path::new(path))
    }

    /// The "Path matching" section of GitLab's syntax page.
    #[test]
    fn paths_match_as_gitlab_matches_them() {
        // Absolute paths.
        assert!(m("/README.md", "README.md") && !m("/README.md", "docs/README.md"));
        assert!(m("/docs/README.md", "docs/README.md"));
        // Relative paths are globstar paths.
        for p in ["README.md", "internal/README.md", "app/lib/README.md"] {
            assert!(m("README.md", p), "{p}");
        }
        for p in ["internal/README.md", "docs/internal/README.md", "docs/api/internal/README.md"] {
            assert!(m("internal/README.md", p), "{p}");
        }
        // Directory paths.
        assert!(m("/docs/", "docs/a.md") && m("/docs/", "docs/x/y/a.md") && !m("/docs/", "x/docs/a.md"));
        assert!(m("lib/", "lib/a.rb") && m("lib/", "x/y/lib/a.rb"));
        // Without the trailing `/`, a directory's files are not matched.
        assert!(!m("/docs", "docs/a.md") && m("/docs", "docs"));
        // Wildcard paths.
        assert!(m("/docs/*.md", "docs/a.md") && !m("/docs/*.md", "docs/x/a.md"));
        for p in ["docs/index.md", "docs/index.html", "docs/index.xml"] {
            assert!(m("/docs/index.*", p), "{p}");
        }
        for p in ["docs/qa_specs.rb", "docs/spec_helpers.rb", "docs/runtime.spec"] {
            assert!(m("/docs/*spec*", p), "{p}");
        }
        assert!(m("/docs/*/README.md", "docs/api/README.md") && !m("/docs/*/README.md", "docs/a/b/README.md"));
        // Globstar paths.
        for p in ["docs/index.md", "docs/api/index.md", "docs/api/graphql/index.md"] {
            assert!(m("/docs/**/index.md", p), "{p}");
        }
        // `/docs/*` is one level; `*` is everything; dotfiles match.
        assert!(m("/docs/*", "docs/a.md") && !m("/docs/*", "docs/projects/index.md"));
        assert!(m("*", ".gitignore") && m("*", "a/b/.env"));
        assert!(m("*.rb", "app/controllers/users/stars_controller.rb"));
        // Escaped `#` and spaces; character classes work in GitLab.
        assert!(m("\\#file_with_pound.rb", "#file_with_pound.rb"));
        assert!(m("path\\ with\\ spaces/", "path with spaces/a.md"));
        assert!(m("Python/ceval*.[ch]", "Python/ceval_gil.h"));
    }

    #[test]
    fn headers_and_owners_read_as_gitlab_reads_them() {
        let h = |t: &str| header(t).map(|h| (h.name, h.optional, h.approvals, h.defaults));
        assert_eq!(h("[Documentation]"), Some(("Documentation".into(), false, 0, String::new())));
        assert_eq!(h("^[Go]"), Some(("Go".into(), true, 0, String::new())));
        assert_eq!(h("[Section name][5]"), Some(("Section name".into(), false, 5, String::new())));
        assert_eq!(h("[Section name] @username"), Some(("Section name".into(), false, 0, "@username".into())));
        assert_eq!(
            h("[Section name][2] @group @subgroup"),
            Some(("Section name".into(), false, 2, "@group @subgroup".into()))
        );
        assert_eq!(h("[Section name"), None, "an entry, as GitLab reads it");
        assert_eq!(
            owners("@group user_without_at_symbol @user_with_at_symbol"),
            ["@group", "@user_with_at_symbol"],
            "malformed owners are ignored"
        );
        assert_eq!(owners("@legal janedoe@gitlab.com"), ["janedoe@gitlab.com", "@legal"]);
        assert_eq!(owners("@group @group/with-nested/subgroup"), ["@group", "@group/with-nested/subgroup"]);
        assert_eq!(owners("@@maintainer"), ["@@maintainer"]);
        assert_eq!(owners("@markdown-docs  # Match specific file types"), ["@markdown-docs"]);
        assert!(owners("name").is_empty());
        assert_eq!(split_entry("path\\ with\\ spaces/*.md @owner"), ("path\\ with\\ spaces/*.md", "@owner"));
        assert_eq!(split_entry("folder with spaces/*.md @group"), ("folder", "with spaces/*.md @group"));
    }
}
