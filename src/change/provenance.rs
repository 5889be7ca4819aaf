//! AI provenance: is this change AI-assisted, and what says so, commit by commit.

use serde::Serialize;

use super::Change;
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
}

/// One piece of evidence. `commit` is absent for labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Evidence {
    pub commit: Option<String>,
    pub kind: EvidenceKind,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Provenance {
    pub ai_assisted: bool,
    pub evidence: Vec<Evidence>,
}

/// Collects the evidence from the change's commits and CI's labels.
pub fn provenance(change: &Change, config: &LoadedConfig, labels: &[String]) -> Provenance {
    let m: &Matchers = &config.matchers;
    let mut evidence = Vec::new();
    for c in &change.commits {
        for (k, v) in &c.trailers {
            let line = format!("{k}: {v}");
            if m.ai_trailers.iter().any(|r| r.is_match(&line)) {
                evidence.push(Evidence { commit: Some(c.id.clone()), kind: EvidenceKind::Trailer, value: line });
            }
        }
        let mut who = vec![&c.author];
        if c.committer != c.author {
            who.push(&c.committer);
        }
        for person in who {
            if m.ai_authors.iter().any(|r| r.is_match(person)) {
                evidence.push(Evidence {
                    commit: Some(c.id.clone()),
                    kind: EvidenceKind::Author,
                    value: person.clone(),
                });
            }
        }
    }
    let wanted = &config.config.policy.ai_assisted.labels;
    for l in labels {
        if wanted.iter().any(|w| w.eq_ignore_ascii_case(l)) {
            evidence.push(Evidence { commit: None, kind: EvidenceKind::Label, value: l.clone() });
        }
    }
    Provenance { ai_assisted: !evidence.is_empty(), evidence }
}
