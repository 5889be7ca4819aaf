//! Sign-off: who approved, from where, and whether that satisfies the policy. Approvals
//! count only from sources the change cannot write (`--approved-by`, handed in by CI).

use serde::Serialize;

use crate::plan::Plan;

/// Who approved, and where it was said.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Approval {
    pub email: String,
    /// Where the approval came from: `--approved-by` (handed in by CI).
    pub source: String,
    pub senior: bool,
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
    /// Approvals the change wrote about itself, which do not count.
    #[serde(default)]
    pub ignored: Vec<IgnoredApproval>,
}

impl SignoffState {
    /// Whether a senior approved, from the approvals that count.
    pub fn recompute(&mut self) {
        let seniors: Vec<String> = self.seniors.iter().map(|s| s.to_ascii_lowercase()).collect();
        for a in &mut self.approvals {
            a.senior = seniors.contains(&a.email);
        }
        self.satisfied = !self.required || self.approvals.iter().any(|a| a.senior);
    }

    /// Why a missing sign-off is missing, for the verdict's reasons.
    pub fn missing_reason(&self) -> String {
        let mut s = if self.seniors.is_empty() {
            "a senior's sign-off is required and missing: policy.seniors lists nobody who could give it".to_owned()
        } else {
            format!(
                "a senior's sign-off is required and missing (one of {}, through --approved-by)",
                self.seniors.join(", ")
            )
        };
        if let Some(i) = self.ignored.first() {
            s.push_str(&format!("; ignored: `{}` in {} — {}", crate::change::clean(&i.trailer), i.commit, i.why));
            if self.ignored.len() > 1 {
                s.push_str(&format!(" (and {} more)", self.ignored.len() - 1));
            }
        }
        s
    }
}

/// The email in `Name <email>`, or the text itself, lower case.
fn email_of(s: &str) -> String {
    let (name, email) = crate::change::assistants::split_person(s);
    if email.is_empty() { name } else { email }.to_ascii_lowercase()
}

/// Trailer keys that claim an approval. In the change's own commits they prove nothing:
/// anyone can type them.
const APPROVAL_TRAILERS: &[&str] = &["reviewed-by", "approved-by", "acked-by"];

/// The sign-off state of `plan`: approvals only from `approved_by` (CI, the code host —
/// sources the change cannot write). Approval trailers in the change's commits are listed as
/// ignored.
pub fn signoff(plan: &Plan, approved_by: &[String]) -> SignoffState {
    let mut ignored = Vec::new();
    for c in &plan.commits {
        for (k, v) in &c.trailers {
            if APPROVAL_TRAILERS.iter().any(|a| k.trim().eq_ignore_ascii_case(a)) {
                ignored.push(IgnoredApproval {
                    trailer: format!("{k}: {v}"),
                    commit: c.id[..c.id.len().min(10)].to_owned(),
                    why: "written by the change itself; approvals count only from --approved-by (CI, the code host)"
                        .into(),
                });
            }
        }
    }
    let approvals = approved_by
        .iter()
        .map(|a| Approval { email: email_of(a), source: "--approved-by".into(), senior: false })
        .collect();
    let mut state = SignoffState {
        required: plan.signoff_required,
        seniors: plan.seniors.clone(),
        approvals,
        satisfied: false,
        ignored,
    };
    state.recompute();
    state
}
