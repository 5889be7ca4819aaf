//! The sign-off as `verdict.json` records it: who approved, from where, which approvals were
//! ignored, and whether that satisfied the policy. `verdict` decides it
//! (`verdict::signoff`, `SignoffState::recompute`).

use serde::Serialize;

/// Who approved, and where it was said.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Approval {
    /// A handle (`@alice`) or an email, lower case.
    #[serde(alias = "email")]
    pub who: String,
    /// Where the approval came from: `--approved-by` (handed in by CI), `GitHub review of
    /// 1a2b3c4d5e`, `GitLab approval of …`.
    pub source: String,
    pub senior: bool,
}

/// One area of the change and whether someone who may sign off for it did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AreaSignoff {
    #[serde(flatten)]
    pub area: crate::plan::SignoffArea,
    /// Who signed off for it (several, comma-separated, when it needs several), once enough did.
    pub by: Option<String>,
}

/// An approval written inside the change (a `Reviewed-by:` trailer): shown, never counted.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct IgnoredApproval {
    /// The trailer line as written.
    pub trailer: String,
    pub commit: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SignoffState {
    pub required: bool,
    pub seniors: Vec<String>,
    pub approvals: Vec<Approval>,
    pub satisfied: bool,
    /// Approvals the change wrote about itself, and stale ones of an earlier head: they do
    /// not count.
    #[serde(default)]
    pub ignored: Vec<IgnoredApproval>,
    /// With `policy.owners` or CODEOWNERS: each area the change touches needs one of its own
    /// seniors.
    #[serde(default)]
    pub areas: Vec<AreaSignoff>,
    /// Why the code host's approvals could not be read. A required sign-off that is missing
    /// then means "could not verify", not "block".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}
