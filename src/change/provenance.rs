//! AI provenance: is this change AI-assisted, and what says so, commit by commit.

use serde::Serialize;

use super::{Change, assistants};
use crate::config::{LoadedConfig, Matchers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// A trailer line matched `policy.ai_assisted.trailers`.
    Trailer,
    /// The author or committer matched `policy.ai_assisted.authors`.
    Author,
    /// CI handed in a label listed in `policy.ai_assisted.labels`.
    Label,
    /// The message carries a marker an assistant writes (`Generated with [Claude Code]`) or
    /// one of `policy.ai_assisted.markers`.
    Marker,
}

/// One piece of evidence. `commit` is absent for labels and the pull request's author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Evidence {
    pub commit: Option<String>,
    pub kind: EvidenceKind,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub(crate) struct Provenance {
    pub ai_assisted: bool,
    pub evidence: Vec<Evidence>,
    /// Which rule decided `ai_assisted`: `policy.ai_assisted.assume` (every change counts),
    /// `evidence` (what `evidence` lists), or `no evidence`.
    pub rule: String,
}

/// The rule that decides when `policy.ai_assisted.assume` is on.
pub const ASSUME_RULE: &str = "policy.ai_assisted.assume";

/// Collects the evidence from the change's commits and CI's labels: trailers (keys read
/// without regard to case, as git reads them, on any line shaped like a trailer), authors and
/// committers, markers in the message — the policy's patterns and, unless
/// `policy.ai_assisted.builtin` is off, what the common assistants write by default.
/// `author` is who opened the pull request, as the code host names them (`@login`). With
/// `policy.ai_assisted.assume` every change is AI-assisted; the evidence is still collected.
pub(crate) fn provenance(
    change: &Change,
    config: &LoadedConfig,
    labels: &[String],
    author: Option<&str>,
) -> Provenance {
    let m: &Matchers = &config.matchers;
    let builtin = config.config.policy.ai_assisted.builtin;
    let ai_person = |who: &str| m.ai_authors.iter().any(|r| r.is_match(who)) || (builtin && assistants::person(who));
    let mut evidence = Vec::new();
    for c in &change.commits {
        let mut push = |kind: EvidenceKind, value: String| {
            let e = Evidence { commit: Some(c.id.clone()), kind, value };
            if !evidence.contains(&e) {
                evidence.push(e);
            }
        };
        let lines =
            c.trailers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(assistants::trailer_lines(&c.message));
        for (k, v) in lines {
            let line = format!("{k}: {v}");
            if m.ai_trailers.iter().any(|r| r.is_match(&line)) || (builtin && assistants::trailer(k, v)) {
                push(EvidenceKind::Trailer, line);
            }
        }
        let mut who = vec![&c.author];
        if c.committer != c.author {
            who.push(&c.committer);
        }
        for person in who {
            if ai_person(person) {
                push(EvidenceKind::Author, person.clone());
            }
        }
        if let Some(found) = m.ai_markers.iter().find_map(|r| r.find(&c.message)) {
            push(EvidenceKind::Marker, found.as_str().to_owned());
        } else if builtin && let Some(found) = assistants::marker(&c.message) {
            push(EvidenceKind::Marker, found);
        }
    }
    if let Some(login) = author.map(|a| a.trim().trim_start_matches('@')).filter(|a| !a.is_empty())
        && ai_person(login)
    {
        evidence.push(Evidence {
            commit: None,
            kind: EvidenceKind::Author,
            value: format!("pull request opened by @{login}"),
        });
    }
    let wanted = &config.config.policy.ai_assisted.labels;
    for l in labels {
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(l.trim())) {
            evidence.push(Evidence { commit: None, kind: EvidenceKind::Label, value: l.clone() });
        }
    }
    let assume = config.config.policy.ai_assisted.assume;
    let rule = match (assume, evidence.is_empty()) {
        (true, _) => ASSUME_RULE,
        (false, false) => "evidence",
        (false, true) => "no evidence",
    };
    Provenance { ai_assisted: assume || !evidence.is_empty(), evidence, rule: rule.to_owned() }
}
