//! Sign-off: who approved, from where, and whether that satisfies the policy. Approvals
//! count only from sources the change cannot write: the code host's reviews (read by the
//! gate) and `--approved-by`, handed in by CI.

use crate::outcome::{Approval, AreaSignoff, IgnoredApproval, SignoffState};
use crate::plan::Plan;

/// Where approvals come from that the change cannot write.
pub fn trusted_source(source: &str) -> bool {
    source == "--approved-by" || source.starts_with("GitHub review of ") || source.starts_with("GitLab approval of ")
}

/// The sign-off as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignoffLine {
    NotRequired,
    /// Who gave it, with where: `@alice (GitHub review of 1a2b3c4d5e)`.
    Given(String),
    /// Who must still approve (and why approvals could not be read).
    Missing(String),
}

/// Who a missing sign-off needs.
enum Missing<'a> {
    /// Areas no one of whose seniors approved.
    Areas(Vec<&'a AreaSignoff>),
    /// `policy.seniors` is empty.
    Nobody,
    OneOf(&'a [String]),
}

/// `one`, or `2` for an area that needs two approvals.
fn how_many(a: &AreaSignoff) -> String {
    if a.area.approvals > 1 { a.area.approvals.to_string() } else { "one".to_owned() }
}

fn same_person(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The sign-off's rules, on the plain record `verdict.json` holds ([`crate::outcome`]).
impl SignoffState {
    /// Whether a senior approved, from the approvals that count: one of `seniors`, or with
    /// areas, one of each area's.
    pub(crate) fn recompute(&mut self) {
        let is_one_of = |who: &str, list: &[String]| list.iter().any(|s| same_person(s, who));
        for a in &mut self.approvals {
            a.senior =
                is_one_of(&a.who, &self.seniors) || self.areas.iter().any(|ar| is_one_of(&a.who, &ar.area.seniors));
        }
        // An area needs `approvals` distinct people of its own (GitLab's `[Section][N]`).
        for ar in &mut self.areas {
            let by: Vec<&str> =
                self.approvals.iter().filter(|a| is_one_of(&a.who, &ar.area.seniors)).map(|a| a.who.as_str()).collect();
            let needed = usize::try_from(ar.area.approvals.max(1)).unwrap_or(usize::MAX);
            ar.by = (by.len() >= needed).then(|| by.join(", "));
        }
        self.satisfied = !self.required
            || if self.areas.is_empty() {
                self.approvals.iter().any(|a| a.senior)
            } else {
                self.areas.iter().all(|a| a.by.is_some())
            };
    }

    /// Who is missing, once for both renderings below.
    fn missing(&self) -> Missing<'_> {
        let open: Vec<&AreaSignoff> = self.areas.iter().filter(|a| a.by.is_none()).collect();
        if !open.is_empty() {
            Missing::Areas(open)
        } else if self.seniors.is_empty() {
            Missing::Nobody
        } else {
            Missing::OneOf(&self.seniors)
        }
    }

    /// The state, short, for the reports.
    pub fn line(&self) -> SignoffLine {
        if !self.required {
            return SignoffLine::NotRequired;
        }
        if self.satisfied {
            let by: Vec<String> =
                self.approvals.iter().filter(|a| a.senior).map(|a| format!("{} ({})", a.who, a.source)).collect();
            return SignoffLine::Given(by.join(", "));
        }
        let mut s = match self.missing() {
            Missing::Areas(open) => {
                let each: Vec<String> = open
                    .iter()
                    .map(|a| format!("{} of {} for {}", how_many(a), a.area.seniors.join(", "), a.area.area))
                    .collect();
                format!("{} must approve", each.join("; "))
            }
            Missing::Nobody => "policy.seniors lists nobody who could approve".to_owned(),
            Missing::OneOf(seniors) => format!("one of {} must approve", seniors.join(", ")),
        };
        if let Some(e) = &self.unreadable {
            s.push_str(&format!(" ({e})"));
        }
        SignoffLine::Missing(s)
    }

    /// Why a missing sign-off is missing, for the verdict's reasons.
    pub fn missing_reason(&self) -> String {
        let mut s = match self.missing() {
            Missing::Areas(open) => {
                let each: Vec<String> = open
                    .iter()
                    .map(|a| {
                        let who =
                            if a.area.seniors.is_empty() { "nobody listed".into() } else { a.area.seniors.join(", ") };
                        format!(
                            "{} ({}; {} of {who})",
                            a.area.area,
                            a.area.paths.first().map_or("", |p| p.as_str()),
                            how_many(a)
                        )
                    })
                    .collect();
                format!("a senior's sign-off is required and missing for {}", each.join("; "))
            }
            Missing::Nobody => {
                "a senior's sign-off is required and missing: policy.seniors lists nobody who could give it".to_owned()
            }
            Missing::OneOf(seniors) => format!(
                "a senior's sign-off is required and missing (one of {}, through an approving review or --approved-by)",
                seniors.join(", ")
            ),
        };
        if let Some(e) = &self.unreadable {
            s.push_str(&format!("; {e}"));
        }
        for i in self.ignored.iter().take(3) {
            s.push_str(&format!("; ignored: `{}` in {} — {}", crate::change::clean(&i.trailer), i.commit, i.why));
        }
        if self.ignored.len() > 3 {
            s.push_str(&format!(" (and {} more)", self.ignored.len() - 3));
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

/// Approvals from outside the change, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct GivenApprovals {
    /// `(who, source)`: `("@alice", "GitHub review of 1a2b3c4d5e")`, `("bob@x", "--approved-by")`.
    pub counted: Vec<(String, String)>,
    /// `(who, commit, why)`: approvals of an earlier head.
    pub stale: Vec<(String, String, String)>,
    /// Why the code host could not be read, if it could not.
    pub unreadable: Option<String>,
    /// Differences accepted (`faultline accept ID` in a review or GitLab note of the head, or
    /// `--accept-difference`), see [`super::accept`].
    pub accepts: Vec<super::accept::Acceptance>,
}

impl GivenApprovals {
    /// `--approved-by` values.
    pub fn from_flags(approved_by: &[String]) -> GivenApprovals {
        GivenApprovals {
            counted: approved_by.iter().map(|a| (email_of(a), "--approved-by".to_owned())).collect(),
            ..GivenApprovals::default()
        }
    }
}

/// The sign-off state of `plan`: approvals only from `given` (CI, the code host — sources
/// the change cannot write). Approval trailers in the change's commits are listed as ignored.
pub fn signoff(plan: &Plan, given: &GivenApprovals) -> SignoffState {
    let mut ignored = Vec::new();
    for c in &plan.commits {
        for (k, v) in &c.trailers {
            if APPROVAL_TRAILERS.iter().any(|a| k.trim().eq_ignore_ascii_case(a)) {
                ignored.push(IgnoredApproval {
                    trailer: format!("{k}: {v}"),
                    commit: c.id[..c.id.len().min(10)].to_owned(),
                    why: "written by the change itself; approvals count only from the code host's reviews or \
                          --approved-by"
                        .into(),
                });
            }
        }
    }
    for (who, commit, why) in &given.stale {
        ignored.push(IgnoredApproval {
            trailer: format!("approved by {who}"),
            commit: commit.clone(),
            why: why.clone(),
        });
    }
    let mut approvals: Vec<Approval> = Vec::new();
    for (who, source) in &given.counted {
        if !approvals.iter().any(|a| same_person(&a.who, who)) {
            approvals.push(Approval { who: who.to_ascii_lowercase(), source: source.clone(), senior: false });
        }
    }
    let mut state = SignoffState {
        required: plan.signoff_required,
        seniors: plan.seniors.clone(),
        approvals,
        satisfied: false,
        ignored,
        areas: areas_of(plan),
        unreadable: given.unreadable.clone(),
    };
    state.recompute();
    state
}

/// The plan's areas, none signed yet. One area that is all of `policy.seniors` is no area.
pub fn areas_of(plan: &Plan) -> Vec<AreaSignoff> {
    if plan.signoff_areas.iter().all(|a| a.area == "policy.seniors") {
        return Vec::new();
    }
    plan.signoff_areas.iter().map(|a| AreaSignoff { area: a.clone(), by: None }).collect()
}
