//! Path globs as faultline reads them: `*` and `?` stay within one path segment, `**`
//! crosses segments, `{a,b}` alternates, and a pattern ending in `/` means everything below.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Compiles one pattern with faultline's semantics.
pub(crate) fn compile(pattern: &str) -> Result<Glob, globset::Error> {
    let owned;
    let pattern = if pattern.ends_with('/') {
        owned = format!("{pattern}**");
        owned.as_str()
    } else {
        pattern
    };
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).empty_alternates(true).build()
}

/// A set of already validated patterns. Invalid patterns are skipped: validation reports them
/// before any set is built.
pub(crate) fn set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        if let Ok(g) = compile(p) {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        compile(p).unwrap().compile_matcher().is_match(path)
    }

    #[test]
    fn semantics() {
        assert!(m("services/payments/**", "services/payments/src/a.rs"));
        assert!(!m("services/payments/**", "services/paymentsx/a.rs"));
        assert!(m("services/*.rs", "services/a.rs"));
        assert!(!m("services/*.rs", "services/x/a.rs"));
        assert!(m("**/*.md", "README.md"));
        assert!(m("**/*.md", "docs/a/b.md"));
        assert!(m("docs/", "docs/a/b.md"));
        assert!(m("**/migrations/**", "services/orders/migrations/001.sql"));
    }
}
