//! Who may sign off for which paths: `policy.owners` and, with `policy.codeowners: true`, the
//! base's CODEOWNERS file, read as the code host that enforces it reads it — GitHub's rules
//! (`github.rs`) or GitLab's (`gitlab.rs`, with sections). Which host: the CI the gate runs
//! in (`GITHUB_ACTIONS`, `GITLAB_CI`; [`PlanRequest::codeowners_host`](super::PlanRequest)), else
//! the base's CI configuration (`.gitlab-ci.yml` means GitLab), else GitHub.
//!
//! `policy.owners` entries come first, as if written at the top of the file (GitLab: of its
//! unnamed section). In each section the last entry that matches a path owns it; every
//! section applies (GitHub's file is one section). A path that no section requires an owner
//! for — no entry matches, the entry names no owner, the section is optional — needs one of
//! `policy.seniors`, like any path without owners.

mod github;
mod gitlab;
mod pattern;

use globset::GlobSet;
use serde::Serialize;

use crate::change::{ChangedPath, RepoPath, clean};
use crate::config::Config;

/// The code host whose CODEOWNERS rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeHost {
    GitHub,
    GitLab,
}

impl CodeHost {
    /// Where the host looks for CODEOWNERS, in its order: it uses the first that exists.
    /// GitHub: `.github/`, the root, `docs/` ("About code owners"); GitLab: the root, `docs/`,
    /// `.gitlab/` ("Code Owners").
    pub fn codeowners_paths(self) -> &'static [&'static str] {
        match self {
            CodeHost::GitHub => &[".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"],
            CodeHost::GitLab => &["CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CodeHost::GitHub => "GitHub",
            CodeHost::GitLab => "GitLab",
        }
    }
}

/// The largest CODEOWNERS a host reads: "CODEOWNERS files must be under 3 MB in size. A
/// CODEOWNERS file over this limit will not be loaded" (GitHub). The plan's bounded read
/// refuses a bigger file before it gets here (`config::MAX_CODEOWNERS_BYTES`, the same
/// number); a text handed in by a library caller is skipped as GitHub skips it.
pub const MAX_CODEOWNERS_BYTES: usize = 3_000_000;

/// The base's CODEOWNERS, and the host whose rules read it.
#[derive(Debug, Clone, Copy)]
pub struct CodeownersText<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub host: CodeHost,
    /// Why this host: `GITHUB_ACTIONS=true`, `.gitlab-ci.yml at the base`, ….
    pub host_from: &'a str,
}

/// The CODEOWNERS the plan read, as `faultline plan` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CodeownersRead {
    pub path: String,
    /// Whose rules read it.
    pub host: CodeHost,
    /// Why that host.
    pub host_from: String,
    /// Lines the host does not read, `path:line: text: why` (the first 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// One area of the change: the paths one entry owns, and who may sign off for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SignoffArea {
    /// The entry: `policy.owners[0]: services/payments/**`, `.github/CODEOWNERS:12: /docs/`,
    /// `CODEOWNERS:7: [Database] model/db/`, or `policy.seniors` for paths no entry owns.
    pub area: String,
    /// Handles (`@login`) or emails, as written.
    pub seniors: Vec<String>,
    /// The changed paths in this area (the first 20).
    pub paths: Vec<String>,
    /// How many of `seniors` must approve (GitLab's `[Section][N]`); 1 when not written.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub approvals: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// How an entry matches paths.
enum Matcher {
    /// `policy.owners` (faultline's globs).
    Globs(GlobSet),
    /// A CODEOWNERS pattern, as its host reads it.
    Path(Vec<pattern::Tok>),
}

/// A changed path, ready for both kinds of matcher.
struct Target<'a> {
    path: &'a RepoPath,
    split: pattern::Path,
}

impl<'a> Target<'a> {
    fn new(path: &'a RepoPath) -> Target<'a> {
        Target { path, split: pattern::Path::new(&String::from_utf8_lossy(path.as_bytes())) }
    }
}

impl Matcher {
    fn is_match(&self, p: &Target<'_>) -> bool {
        match self {
            Matcher::Globs(set) => set.is_match(p.path.as_path()),
            Matcher::Path(toks) => pattern::matches(toks, &p.split),
        }
    }
}

/// One ownership entry, compiled.
struct OwnerRule {
    origin: String,
    matcher: Matcher,
    seniors: Vec<String>,
    /// GitLab's `!pattern`: the paths it matches need no owner of its section.
    exclusion: bool,
    approvals: u32,
    /// Written under a `^[…]` header.
    optional: bool,
    /// GitLab: the normalised pattern; a later entry with the same replaces it in place.
    key: Option<String>,
}

/// Entries that apply together: the last that matches a path owns it.
struct Section {
    name: String,
    rules: Vec<OwnerRule>,
    /// Where each key's entry is in `rules` (GitLab's patterns).
    keys: std::collections::HashMap<String, usize>,
    /// Whether an entry is an exclusion: then every entry that matches is looked at.
    exclusions: bool,
}

/// GitLab's name of the entries before the first header.
const UNNAMED: &str = "codeowners";

impl Section {
    fn new(name: &str, rules: Vec<OwnerRule>) -> Section {
        Section { name: name.to_owned(), rules, keys: Default::default(), exclusions: false }
    }

    fn add(&mut self, rule: OwnerRule) {
        self.exclusions |= rule.exclusion;
        match rule.key.as_ref().and_then(|k| self.keys.get(k)) {
            Some(&i) => self.rules[i] = rule,
            None => {
                if let Some(k) = &rule.key {
                    self.keys.insert(k.clone(), self.rules.len());
                }
                self.rules.push(rule);
            }
        }
    }

    /// Optional when every entry is (GitLab: one required header makes the section required).
    fn optional(&self) -> bool {
        !self.rules.is_empty() && self.rules.iter().all(|r| r.optional)
    }

    /// The entry that owns `p` here: the last that matches, none when an exclusion matches.
    fn owner(&self, p: &Target<'_>) -> Option<&OwnerRule> {
        let mut found = None;
        for r in self.rules.iter().rev() {
            if r.matcher.is_match(p) {
                if r.exclusion {
                    return None;
                }
                if !self.exclusions {
                    return Some(r);
                }
                found = found.or(Some(r));
            }
        }
        found
    }
}

/// The ownership entries of a configuration and its CODEOWNERS, by section.
pub struct Owners {
    sections: Vec<Section>,
}

/// The entries of `policy.owners`, then those of `codeowners` read by its host's rules; and
/// what the plan says about the file.
pub fn rules(config: &Config, codeowners: Option<CodeownersText<'_>>) -> (Owners, Option<CodeownersRead>) {
    let own = config.policy.owners.iter().enumerate().map(|(i, o)| OwnerRule {
        origin: format!("policy.owners[{i}]: {}", o.paths.join(", ")),
        matcher: Matcher::Globs(crate::config::glob::set(o.paths.iter().map(String::as_str))),
        seniors: o.seniors.clone(),
        exclusion: false,
        approvals: 1,
        optional: false,
        key: None,
    });
    let mut owners = Owners { sections: vec![Section::new(UNNAMED, own.collect())] };
    let Some(c) = codeowners else { return (owners, None) };
    let mut skipped = Vec::new();
    if c.text.len() >= MAX_CODEOWNERS_BYTES {
        skipped.push(format!(
            "{}: {} bytes: {} does not load a CODEOWNERS of 3 MB or more",
            c.path,
            c.text.len(),
            c.host.name()
        ));
    } else if c.host == CodeHost::GitLab && c.text.contains('\0') {
        skipped.push(format!("{}: binary: GitLab reads no owners from it", c.path));
    } else {
        match c.host {
            CodeHost::GitHub => read_github(c.path, c.text, &mut owners.sections[0], &mut skipped),
            CodeHost::GitLab => read_gitlab(c.path, c.text, &mut owners.sections),
        }
    }
    let total = skipped.len();
    skipped.truncate(50);
    if total > 50 {
        skipped.push(format!("(and {} more)", total - 50));
    }
    let read = CodeownersRead { path: c.path.to_owned(), host: c.host, host_from: c.host_from.to_owned(), skipped };
    (owners, Some(read))
}

/// A line as a report shows it: control characters escaped, at most 120 characters.
fn shown(raw: &str) -> String {
    clean(&raw.trim().chars().take(120).collect::<String>())
}

fn read_github(path: &str, text: &str, section: &mut Section, skipped: &mut Vec<String>) {
    for (n, raw) in text.lines().enumerate() {
        match github::line(raw) {
            github::Line::Nothing => {}
            github::Line::Skipped(why) => skipped.push(format!("{path}:{}: {}: {why}", n + 1, shown(raw))),
            github::Line::Rule { pattern, toks, owners } => section.add(OwnerRule {
                origin: format!("{path}:{}: {}", n + 1, shown(&pattern)),
                matcher: Matcher::Path(toks),
                seniors: owners,
                exclusion: false,
                approvals: 1,
                optional: false,
                key: None,
            }),
        }
    }
}

fn read_gitlab(path: &str, text: &str, sections: &mut Vec<Section>) {
    // Sections by their name in lower case (the first of a name wins, as GitLab's `find`).
    let mut by_name: std::collections::HashMap<String, usize> =
        sections.iter().enumerate().map(|(i, s)| (s.name.to_lowercase(), i)).collect();
    let mut current = 0;
    let mut header = gitlab::Header { name: UNNAMED.into(), optional: false, approvals: 0, defaults: String::new() };
    for (n, raw) in text.lines().enumerate() {
        match gitlab::line(raw) {
            gitlab::Line::Nothing => {}
            gitlab::Line::Header(h) => {
                // GitLab's `find_section_name`: before any named section, the name as written
                // (`codeowners` is the unnamed one); after, any section of the same name
                // without regard to case.
                let found = if sections.len() == 1 {
                    (h.name == UNNAMED).then_some(0)
                } else {
                    by_name.get(&h.name.to_lowercase()).copied()
                };
                current = found.unwrap_or_else(|| {
                    sections.push(Section::new(&h.name, Vec::new()));
                    by_name.entry(h.name.to_lowercase()).or_insert(sections.len() - 1);
                    sections.len() - 1
                });
                header = h;
            }
            gitlab::Line::Entry { pattern, key, toks, exclusion, owners } => {
                let seniors = match (exclusion, owners.trim().is_empty()) {
                    (true, _) => Vec::new(),
                    (false, false) => gitlab::owners(&owners),
                    (false, true) => gitlab::owners(&header.defaults),
                };
                let section = &mut sections[current];
                let label = if current == 0 { String::new() } else { format!("[{}] ", shown(&section.name)) };
                section.add(OwnerRule {
                    origin: format!("{path}:{}: {label}{}{}", n + 1, if exclusion { "!" } else { "" }, shown(&pattern)),
                    matcher: Matcher::Path(toks),
                    seniors,
                    exclusion,
                    approvals: header.approvals.max(1),
                    optional: header.optional,
                    key: Some(key),
                });
            }
        }
    }
}

/// The areas `changed` falls in: for each path, the owning entry of every section that
/// requires an owner for it; `policy.seniors` when none does.
pub fn areas(changed: &[ChangedPath], owners: &Owners, seniors: &[String]) -> Vec<SignoffArea> {
    let mut out: Vec<SignoffArea> = Vec::new();
    let mut add = |area: &str, who: &[String], approvals: u32, path: &str| match out.iter_mut().find(|a| a.area == area)
    {
        Some(a) => {
            if a.paths.len() < 20 {
                a.paths.push(path.to_owned());
            }
        }
        None => out.push(SignoffArea {
            area: area.to_owned(),
            seniors: who.to_vec(),
            paths: vec![path.to_owned()],
            approvals,
        }),
    };
    let required: Vec<&Section> = owners.sections.iter().filter(|s| !s.optional()).collect();
    for c in changed {
        for p in c.touched() {
            let shown = p.to_string();
            let target = Target::new(p);
            let mut owned = false;
            for r in required.iter().filter_map(|s| s.owner(&target)).filter(|r| !r.seniors.is_empty()) {
                owned = true;
                add(&r.origin, &r.seniors, r.approvals, &shown);
            }
            if !owned {
                add("policy.seniors", seniors, 1, &shown);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
