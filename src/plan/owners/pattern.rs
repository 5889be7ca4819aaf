//! Path patterns of CODEOWNERS lines, matched one path segment at a time: `*` and `?` never
//! cross a `/`, `\x` is a literal `x`, `[…]` is a character class where the host supports it,
//! and a pattern is a list of [`Tok`]s — one segment each, or any number of directories.
//! Both hosts' rules (`github.rs`, `gitlab.rs`) compile to this.

/// One character position of a segment's pattern.
#[derive(Debug, Clone)]
enum Unit {
    Lit(char),
    /// `?`: one character.
    One,
    /// `*`: any run of characters, empty too.
    Star,
    /// `[…]`, `[!…]`, `[^…]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A `[` that is never closed: matches nothing (as `File.fnmatch` treats it).
    Never,
}

/// The pattern of one path segment.
#[derive(Debug, Clone)]
pub(super) struct SegGlob(Vec<Unit>);

impl SegGlob {
    /// `classes`: `[…]` is a character class (GitLab's `File.fnmatch`); otherwise `[` is a
    /// plain character.
    pub(super) fn parse(s: &str, classes: bool) -> SegGlob {
        let chars: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' if i + 1 < chars.len() => {
                    out.push(Unit::Lit(chars[i + 1]));
                    i += 2;
                    continue;
                }
                '*' => out.push(Unit::Star),
                '?' => out.push(Unit::One),
                '[' if classes => {
                    let (unit, next) = class(&chars, i + 1);
                    out.push(unit);
                    i = next;
                    continue;
                }
                c => out.push(Unit::Lit(c)),
            }
            i += 1;
        }
        SegGlob(out)
    }

    /// `*` alone.
    pub(super) fn any() -> SegGlob {
        SegGlob(vec![Unit::Star])
    }

    /// Whether `seg` (one path segment, no `/`) matches: the classic wildcard walk, which
    /// retries from the last `*` and so never takes more than `len(pattern) × len(seg)` steps.
    pub(super) fn matches(&self, text: &[char]) -> bool {
        let pat = &self.0;
        let (mut p, mut s) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while s < text.len() {
            if p < pat.len() && one(&pat[p], text[s]) {
                p += 1;
                s += 1;
            } else if p < pat.len() && matches!(pat[p], Unit::Star) {
                star = Some((p, s));
                p += 1;
            } else if let Some((sp, ss)) = star {
                p = sp + 1;
                s = ss + 1;
                star = Some((sp, ss + 1));
            } else {
                return false;
            }
        }
        pat[p..].iter().all(|u| matches!(u, Unit::Star))
    }
}

/// Whether the single-character unit `u` matches `c`.
fn one(u: &Unit, c: char) -> bool {
    match u {
        Unit::Lit(l) => *l == c,
        Unit::One => true,
        Unit::Class { negated, ranges } => ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated,
        Unit::Star | Unit::Never => false,
    }
}

/// The class that starts after the `[` at `start - 1`, and where the pattern goes on.
fn class(chars: &[char], start: usize) -> (Unit, usize) {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let Some(&c) = chars.get(i) else { return (Unit::Never, chars.len()) };
        if c == ']' {
            return (Unit::Class { negated, ranges }, i + 1);
        }
        let (lo, after) = escaped(chars, i);
        if chars.get(after) == Some(&'-') && chars.get(after + 1).is_some_and(|c| *c != ']') {
            let (hi, next) = escaped(chars, after + 1);
            ranges.push((lo, hi));
            i = next;
        } else {
            ranges.push((lo, lo));
            i = after;
        }
    }
}

/// The character at `i` (the one after a `\`), and the index after it.
fn escaped(chars: &[char], i: usize) -> (char, usize) {
    match chars.get(i) {
        Some('\\') if i + 1 < chars.len() => (chars[i + 1], i + 2),
        Some(c) => (*c, i + 1),
        None => ('\0', i + 1),
    }
}

/// One element of a path pattern.
#[derive(Debug, Clone)]
pub(super) enum Tok {
    /// Exactly one segment that matches.
    Seg(SegGlob),
    /// Any number of segments, none too.
    AnyDirs,
}

/// A path split for matching: its segments' characters, computed once for every pattern.
pub(super) struct Path(Vec<Vec<char>>);

impl Path {
    /// `path`: segments joined by `/`, no leading `/`.
    pub(super) fn new(path: &str) -> Path {
        Path(path.split('/').map(|s| s.chars().collect()).collect())
    }
}

/// Whether `path` matches `toks`, all of it. Dynamic programming over (token, segment):
/// linear in their product, whatever the number of `**`.
pub(super) fn matches(toks: &[Tok], path: &Path) -> bool {
    let segs = &path.0;
    let m = segs.len();
    // rest[j]: toks[i + 1..] matches segs[j..]; row by row from the last token.
    let mut rest = vec![false; m + 1];
    rest[m] = true;
    for tok in toks.iter().rev() {
        let mut row = vec![false; m + 1];
        for j in (0..=m).rev() {
            row[j] = match tok {
                Tok::AnyDirs => rest[j] || (j < m && row[j + 1]),
                Tok::Seg(g) => j < m && rest[j + 1] && g.matches(&segs[j]),
            };
        }
        rest = row;
    }
    rest[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(p: &str, s: &str) -> bool {
        SegGlob::parse(p, true).matches(&s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn a_segment_pattern() {
        assert!(seg("*.js", "a.js") && seg("*.js", ".js") && !seg("*.js", "a.jsx"));
        assert!(seg("f?o", "foo") && !seg("f?o", "fo") && !seg("f?o", "fooo"));
        assert!(seg("f\\*o", "f*o") && !seg("f\\*o", "foo"));
        assert!(seg("[ch]", "c") && seg("[a-c]x", "bx") && !seg("[!a-c]x", "bx") && seg("[^a-c]x", "dx"));
        assert!(!seg("[abc", "a") && !seg("[abc", "[abc"), "an unclosed class matches nothing");
        assert!(seg("*a*b*c*", "xxaxxbxxcxx") && !seg("*a*b*c*", "xxaxxcxxbxx"));
        assert!(seg("*", "") && seg("**", "abc"));
        // Many stars against a long segment that does not match: still quick.
        let long = "a".repeat(4000);
        assert!(!seg("*a*a*a*a*a*a*a*a*b", &long));
    }

    #[test]
    fn a_path_pattern() {
        let s = |p: &str| Tok::Seg(SegGlob::parse(p, true));
        let toks = [s("docs"), Tok::AnyDirs, s("*.md")];
        let m = |toks: &[Tok], p: &str| matches(toks, &Path::new(p));
        assert!(m(&toks, "docs/a.md") && m(&toks, "docs/x/y/a.md"));
        assert!(!m(&toks, "docs/a.txt") && !m(&toks, "x/docs/a.md"));
        let any = [Tok::AnyDirs];
        assert!(m(&any, "a") && m(&any, "a/b/c"));
        let many: Vec<Tok> = (0..200).flat_map(|_| [Tok::AnyDirs, s("a")]).chain([s("b")]).collect();
        assert!(!m(&many, &["a"; 300].join("/")));
    }
}
