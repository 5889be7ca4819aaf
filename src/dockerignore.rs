//! A build context's `.dockerignore`, applied as Docker applies it, so that the plan (which
//! changed files can reach a service's image) and the build (which files faultline sends to
//! the engine, `stack::image`) agree with each other and with Docker. Depends on nothing of
//! faultline.
//!
//! The rules are those of Docker's documentation ("Dockerignore files") as moby's
//! `patternmatcher` and `ignorefile` implement them:
//! - a line whose first character is `#` is a comment; every other line is trimmed, and a
//!   blank one skipped; `!` makes the line an exception (it re-includes what it matches);
//! - the pattern is cleaned as Go's `filepath.Clean` cleans it (`./a`, `a/`, `a//b/..`) and a
//!   leading `/` dropped: patterns are relative to the context's root;
//! - `*` is any run of characters but `/`, `?` one character but `/`, `[…]` a class, `\` escapes
//!   the next character, `**/` any number of directories (none too), a trailing `**` anything;
//! - a pattern that matches a directory matches everything under it, and the last line that
//!   matches a path decides.
//!
//! The Dockerfile and the `.dockerignore` itself are always sent (Docker's CLI adds
//! exceptions for them): the engine needs both to build, so a change to either reaches the
//! image whatever the file says.

use regex::Regex;

/// The most faultline reads of a build context's `.dockerignore`.
pub const MAX_BYTES: u64 = 1 << 20;

/// The files of a context's root Docker always sends, whatever `.dockerignore` says.
pub const ALWAYS_SENT: &[&str] = &["Dockerfile", ".dockerignore"];

/// The compiled patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    re: Regex,
    exception: bool,
}

impl DockerIgnore {
    /// The patterns of `text`. A line Docker refuses (a bare `!`, an unterminated `[`) is left
    /// out: it excludes nothing, so what it meant to hide still counts as part of the context.
    pub fn parse(text: &str) -> DockerIgnore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exception = p.starts_with('!');
            if exception {
                p = p[1..].trim();
                if p.is_empty() {
                    continue;
                }
            }
            let cleaned = clean(p);
            let cleaned = match cleaned.strip_prefix('/') {
                Some(rest) if !rest.is_empty() => rest.to_owned(),
                _ => cleaned,
            };
            if let Ok(re) = Regex::new(&translate(&cleaned)) {
                rules.push(Rule { re, exception });
            }
        }
        DockerIgnore { rules }
    }

    /// Whether `path` (relative to the context's root, `/`-separated) is left out of the
    /// context: the last pattern that matches it or one of its parent directories decides.
    /// [`ALWAYS_SENT`] files never are.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if ALWAYS_SENT.contains(&path.as_str()) {
            return false;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // An exception only matters once excluded; an exclusion only while included.
            if rule.exception != excluded {
                continue;
            }
            if rule.re.is_match(&path) || parents.iter().any(|p| rule.re.is_match(p)) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether any line is an exception: an excluded directory may then hold files that are
    /// sent, so a walk of the context must still look inside it.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// `p` cleaned as Go's `filepath.Clean` cleans it: repeated `/` and `.` elements removed, `..`
/// resolved lexically, no trailing `/`; `.` when nothing is left.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The regular expression of a cleaned pattern, as moby's `patternmatcher` translates it.
fn translate(pattern: &str) -> String {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                re.push_str(if chars.peek().is_none() { ".*" } else { "(.*/)?" });
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => re.push_str(r"\\"),
            },
            '[' | ']' | '^' | '-' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::{DockerIgnore, clean};

    fn excluded(ignore: &str, path: &str) -> bool {
        DockerIgnore::parse(ignore).excludes(path)
    }

    /// The examples of Docker's documentation ("Dockerignore files").
    #[test]
    fn the_examples_of_dockers_documentation() {
        let doc = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
        assert!(excluded(doc, "somedir/temporary.txt"));
        assert!(excluded(doc, "somedir/temp"));
        assert!(excluded(doc, "somedir/subdir/temporary.txt"));
        assert!(excluded(doc, "tempa"));
        assert!(excluded(doc, "tempb"));
        assert!(!excluded(doc, "temporary.txt"), "*/temp* needs a directory");
        assert!(!excluded(doc, "# comment"));
        // `**` matches any number of directories, including none.
        assert!(excluded("**/*.go", "a.go"));
        assert!(excluded("**/*.go", "x/y/z/a.go"));
        // Exceptions: the last matching line decides.
        let md = "*.md\n!README.md\n";
        assert!(excluded(md, "CHANGES.md"));
        assert!(!excluded(md, "README.md"));
        let secret = "*.md\n!README*.md\nREADME-secret.md\n";
        assert!(excluded(secret, "README-secret.md"));
        assert!(!excluded(secret, "README-public.md"));
        let reinclude = "*.md\nREADME-secret.md\n!README*.md\n";
        assert!(!excluded(reinclude, "README-secret.md"));
        // The Dockerfile and .dockerignore are always sent.
        assert!(!excluded("*\n", "Dockerfile"));
        assert!(!excluded("Dockerfile\n.dockerignore\n", ".dockerignore"));
        assert!(excluded("*\n", "src/main.rs"));
    }

    #[test]
    fn patterns_are_cleaned_and_rooted_at_the_context() {
        for p in ["/docs", "./docs", "docs/", "docs//", "x/../docs"] {
            assert!(excluded(p, "docs/schema.sql"), "{p}");
            assert!(!excluded(p, "src/docs.rs"), "{p}");
        }
        // A directory matched excludes what is under it, at any depth of the match.
        assert!(excluded("target", "target/release/orders"));
        assert!(!excluded("target", "src/target/x"), "unanchored names match from the root only");
        assert!(excluded("**/target", "src/target/x"));
        // An exception inside an excluded directory re-includes the file.
        let keep = "docs\n!docs/schema.sql\n";
        assert!(!excluded(keep, "docs/schema.sql"));
        assert!(excluded(keep, "docs/other.md"));
        assert!(DockerIgnore::parse(keep).has_exceptions());
        // Escapes, classes, `?`.
        assert!(excluded(r"a\*b", "a*b"));
        assert!(!excluded(r"a\*b", "axb"));
        assert!(excluded("file[0-9].txt", "file7.txt"));
        assert!(!excluded("file[0-9].txt", "filex.txt"));
        assert!(excluded("file[^0-9].txt", "filex.txt"));
        assert!(!excluded("a?c", "a/c"));
        assert!(excluded("a.c", "a.c"));
        assert!(!excluded("a.c", "abc"), "a dot is a dot");
        // Lines Docker refuses exclude nothing.
        assert!(!excluded("!\n[\n", "x"));
        assert!(!excluded("[unterminated\n", "[unterminated"));
    }

    #[test]
    fn clean_is_gos_filepath_clean() {
        for (p, c) in [
            ("", "."),
            ("./", "."),
            ("a//b", "a/b"),
            ("a/./b/", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/b/../c", "a/c"),
        ] {
            assert_eq!(clean(p), c, "{p}");
        }
    }
}
