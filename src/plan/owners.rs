//! Who may sign off for which paths: `policy.owners` and, with `policy.codeowners: true`, the
//! base's CODEOWNERS file. As in CODEOWNERS, the last entry that matches a path owns it;
//! a path no entry matches needs one of `policy.seniors`.

use globset::{GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::change::ChangedPath;
use crate::config::Config;

pub(crate) use crate::config::CODEOWNERS_PATHS;

/// One area of the change: the paths one entry owns, and who may sign off for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignoffArea {
    /// The entry: `policy.owners[0]: services/payments/**`, `.github/CODEOWNERS:12: /docs/`,
    /// or `policy.seniors` for paths no entry owns.
    pub area: String,
    /// Handles (`@login`) or emails, as written.
    pub seniors: Vec<String>,
    /// The changed paths in this area (the first 20).
    pub paths: Vec<String>,
}

/// One ownership rule, compiled.
pub(crate) struct OwnerRule {
    origin: String,
    set: GlobSet,
    seniors: Vec<String>,
}

/// The rules of `policy.owners`, then those of `codeowners` (`(path, text)`), in order:
/// the last that matches wins.
pub(crate) fn rules(config: &Config, codeowners: Option<(&str, &str)>) -> Vec<OwnerRule> {
    let mut out: Vec<OwnerRule> = config
        .policy
        .owners
        .iter()
        .enumerate()
        .map(|(i, o)| OwnerRule {
            origin: format!("policy.owners[{i}]: {}", o.paths.join(", ")),
            set: crate::config::glob::set(o.paths.iter().map(String::as_str)),
            seniors: o.seniors.clone(),
        })
        .collect();
    if let Some((path, text)) = codeowners {
        out.extend(parse_codeowners(path, text));
    }
    out
}

/// CODEOWNERS lines `PATTERN OWNER…`, gitignore-style patterns: a leading or inner `/`
/// anchors at the root, a trailing `/` is a directory, `*` stays in one segment, a pattern
/// without `/` matches at any depth, and a pattern names a file or everything below it.
/// Sections (`[Docs]`) and comments are skipped; a pattern with no owner unowns its paths.
pub(crate) fn parse_codeowners(path: &str, text: &str) -> Vec<OwnerRule> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') || line.starts_with("^[") {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(pattern) = words.next() else { continue };
        let seniors: Vec<String> = words.take_while(|w| !w.starts_with('#')).map(str::to_owned).collect();
        let mut b = GlobSetBuilder::new();
        for g in codeowners_globs(pattern) {
            if let Ok(g) = crate::config::glob::compile(&g) {
                b.add(g);
            }
        }
        let Ok(set) = b.build() else { continue };
        out.push(OwnerRule { origin: format!("{path}:{}: {pattern}", n + 1), set, seniors });
    }
    out
}

fn codeowners_globs(pattern: &str) -> Vec<String> {
    if pattern == "*" {
        return vec!["**".into()];
    }
    let dir = pattern.ends_with('/');
    let p = pattern.trim_end_matches('/');
    let anchored = p.starts_with('/') || p.contains('/');
    let p = p.trim_start_matches('/');
    let p = if anchored || p.starts_with("**") { p.to_owned() } else { format!("**/{p}") };
    if dir { vec![format!("{p}/**")] } else { vec![p.clone(), format!("{p}/**")] }
}

/// The areas `changed` falls in. Without any rule, one area: everything, `policy.seniors`.
pub(crate) fn areas(changed: &[ChangedPath], rules: &[OwnerRule], seniors: &[String]) -> Vec<SignoffArea> {
    let mut out: Vec<SignoffArea> = Vec::new();
    let mut add = |area: &str, who: &[String], path: &str| match out.iter_mut().find(|a| a.area == area) {
        Some(a) => {
            if a.paths.len() < 20 {
                a.paths.push(path.to_owned());
            }
        }
        None => out.push(SignoffArea { area: area.to_owned(), seniors: who.to_vec(), paths: vec![path.to_owned()] }),
    };
    for c in changed {
        for p in c.touched() {
            let shown = p.to_string();
            match rules.iter().rev().find(|r| r.set.is_match(p.as_path())) {
                Some(r) => add(&r.origin, &r.seniors, &shown),
                None => add("policy.seniors", seniors, &shown),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_of(text: &str, path: &str) -> Option<Vec<String>> {
        let rules = parse_codeowners("CODEOWNERS", text);
        rules.iter().rev().find(|r| r.set.is_match(path)).map(|r| r.seniors.clone())
    }

    #[test]
    fn codeowners_patterns_read_as_github_reads_them() {
        let text = "# owners\n* @all\n*.md @docs\n/services/payments/ @pay alice@x.com\ndocs/ @writers\nMakefile @build # comment\n[Section]\n/services/payments/README.md\n";
        assert_eq!(owner_of(text, "src/main.rs").unwrap(), ["@all"]);
        assert_eq!(owner_of(text, "notes/a.md").unwrap(), ["@docs"]);
        assert_eq!(owner_of(text, "services/payments/src/lib.rs").unwrap(), ["@pay", "alice@x.com"]);
        assert_eq!(owner_of(text, "x/services/payments/a.rs").unwrap(), ["@all"], "anchored");
        assert_eq!(owner_of(text, "docs/guide/a.txt").unwrap(), ["@writers"]);
        assert_eq!(owner_of(text, "tools/Makefile").unwrap(), ["@build"], "no slash: any depth");
        assert!(owner_of(text, "services/payments/README.md").unwrap().is_empty(), "unowned by the last match");
    }
}
