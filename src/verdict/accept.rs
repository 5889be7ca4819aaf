//! Accepted differences. A change that deliberately behaves otherwise under a fault (a
//! shorter deadline turns a slow 201 into a fast 503) is a difference — worse than its base
//! (`outcome::differential`) or unlike the other flavours of the same fault
//! (`outcome::family`) — with a stable ID ([`ExperimentResult::difference_id`]). It blocks
//! until accepted from a source the change cannot write, as sign-off approvals are: a review
//! of the head commit (GitHub) or a note written while it is the merge request's head
//! (GitLab) by a senior whose text says `faultline accept <ID>`, or
//! `--accept-difference ID[=WHO]` handed in by CI. An accepted difference is reported as
//! accepted, by whom and where, never silently allowed.
//!
//! [`ExperimentResult::difference_id`]: crate::outcome::ExperimentResult::difference_id

use crate::outcome::{Accepted, ExploreReport, SignoffState};

/// The source of an acceptance given on the command line.
pub const FLAG: &str = "--accept-difference";

/// A difference accepted, as given: its ID, by whom, where it was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub id: String,
    pub by: String,
    pub source: String,
}

/// `--accept-difference` values: `ID`, or `ID=WHO` to name who accepted it.
pub fn from_flags(values: &[String]) -> Vec<Acceptance> {
    values
        .iter()
        .map(|v| {
            let (id, by) = v.split_once('=').unwrap_or((v, ""));
            let by = by.trim();
            Acceptance {
                id: id.trim().to_ascii_lowercase(),
                by: if by.is_empty() { "the command line".to_owned() } else { by.to_ascii_lowercase() },
                source: FLAG.to_owned(),
            }
        })
        .collect()
}

/// The IDs a text accepts: each `faultline accept ID` in it (a review's or a note's body), once.
pub fn in_text(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("faultline accept ") {
        rest = &rest[i + "faultline accept ".len()..];
        let id: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        if is_id(&id) && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// `d-` and 10 hex digits.
pub fn is_id(id: &str) -> bool {
    id.strip_prefix("d-").is_some_and(|h| h.len() == 10 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The code host's sources of an acceptance, as `codehost` names them: a GitHub review of
/// the head commit, a GitLab note written while the commit was the merge request's head.
const HOST_SOURCES: &[&str] = &["GitHub review of ", "GitLab note of "];

/// Whether `by` may accept a difference through `source`: anyone CI names on the command
/// line; on the code host (a review, a note), a senior (`policy.seniors`, or a senior of an
/// area the change touches).
fn may_accept(a: &Acceptance, signoff: Option<&SignoffState>) -> bool {
    if a.source == FLAG {
        return true;
    }
    if !HOST_SOURCES.iter().any(|p| a.source.starts_with(p)) {
        return false;
    }
    let Some(s) = signoff else { return false };
    let same = |x: &str| x.trim().eq_ignore_ascii_case(a.by.trim());
    s.seniors.iter().any(|x| same(x)) || s.areas.iter().any(|ar| ar.area.seniors.iter().any(|x| same(x)))
}

/// What to say when the code host could not be read (`unreadable`) and a difference of
/// `exploration` stands unaccepted: a senior may have accepted it there, and the gate could not
/// see it (the block then stands, for a reason the team can act on: run again once the host
/// answers, or have CI hand in `--accept-difference`). Call after [`apply`].
pub fn unseen(exploration: &[ExploreReport], unreadable: Option<&str>) -> Option<String> {
    let why = unreadable?;
    let open: Vec<&str> = exploration
        .iter()
        .flat_map(|r| &r.ran)
        .filter(|x| x.outcome.status == crate::outcome::Status::Failed && !x.known_weakness() && x.accepted.is_none())
        .filter_map(|x| x.difference.as_deref())
        .collect();
    (!open.is_empty()).then(|| {
        format!(
            "the code host's reviews and notes could not be read ({why}): an acceptance of {} there could not be seen",
            open.join(", ")
        )
    })
}

/// Marks each failed experiment of `exploration` whose difference one of `given` accepts
/// (the acceptances of a shard are never taken: every mark is cleared first and made again
/// here). Returns what to say about the acceptances: those that matched no difference, and
/// those not counted (not a senior).
pub fn apply(exploration: &mut [ExploreReport], given: &[Acceptance], signoff: Option<&SignoffState>) -> Vec<String> {
    let mut notes = Vec::new();
    let mut used = vec![false; given.len()];
    for r in exploration.iter_mut() {
        for x in &mut r.ran {
            x.accepted = None;
            x.difference = x.difference_id(&r.service);
            let Some(id) = x.difference.as_deref() else { continue };
            if x.outcome.status != crate::outcome::Status::Failed || x.known_weakness() {
                continue;
            }
            for (i, a) in given.iter().enumerate() {
                if a.id != id {
                    continue;
                }
                used[i] = true;
                if x.accepted.is_none() && may_accept(a, signoff) {
                    x.accepted = Some(Accepted { by: a.by.clone(), source: a.source.clone() });
                }
            }
        }
    }
    for (a, used) in given.iter().zip(used) {
        if !used {
            notes.push(format!(
                "the acceptance of {} by {} ({}) matches no difference of this run",
                a.id, a.by, a.source
            ));
        } else if !may_accept(a, signoff) {
            notes.push(format!(
                "the acceptance of {} by {} ({}) does not count: only a senior accepts a difference",
                a.id, a.by, a.source
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Compared, Differential, ExperimentResult, ScenarioOutcome};
    use crate::scenario::experiments::Mode;

    fn outcome(ok: bool) -> ScenarioOutcome {
        let mut o: ScenarioOutcome = serde_json::from_value(serde_json::json!({"name": "e", "file": "e.yaml",
            "target": "api", "why": "w", "seed": 1, "status": "passed", "error": null,
            "steps": [{"index": 0, "step": "GET api /call", "passed": true, "expected": "", "observed": "",
                       "answered": if ok { serde_json::json!({"ok": 1}) } else { serde_json::json!({"failed": 1}) }}],
            "checks": [], "edges": {}, "faults": [], "checks_ms": 0.0, "stack_seconds": 0.0, "run_seconds": 0.0,
            "teardown_seconds": 0.0, "repro": "r"}))
        .expect("an outcome");
        o.judge();
        o
    }

    /// An experiment worse than its base (`on`, its edge; `seconds`, a timing that must not
    /// change its ID).
    fn worse(on: &str, seconds: f64) -> ExploreReport {
        let mut head = outcome(false);
        head.run_seconds = seconds;
        head.checks.push(crate::outcome::CheckOutcome {
            index: 0,
            line: 0,
            check: "as good as the base revision under the same fault".into(),
            passed: false,
            expected: "-".into(),
            observed: format!("took {seconds}"),
            unobserved: false,
        });
        head.judge();
        let base = outcome(true);
        let (verdict, differences) = crate::outcome::differential::compare(&head, &base);
        ExploreReport {
            service: "api".into(),
            ran: vec![ExperimentResult {
                class: "slow-under-deadline".into(),
                on: on.into(),
                mode: Mode::Sequential,
                with: None,
                outcome: head,
                scenario: None,
                compared: Some(Compared { base, verdict, differences, pairs: 2, recorded: None }),
                difference: None,
                accepted: None,
                outage: None,
            }],
            ..Default::default()
        }
    }

    fn seniors() -> SignoffState {
        serde_json::from_value(serde_json::json!({"required": false, "seniors": ["@alice"], "approvals": [],
            "satisfied": true}))
        .expect("a sign-off")
    }

    #[test]
    fn a_difference_has_one_id_whatever_its_timings() {
        let (a, b) = (worse("api -> db", 1.0), worse("api -> db", 7.5));
        let id = a.ran[0].difference_id("api").expect("a difference");
        assert!(is_id(&id), "{id}");
        assert_eq!(Some(id.clone()), b.ran[0].difference_id("api"));
        assert_ne!(Some(id), worse("api -> cache", 1.0).ran[0].difference_id("api"), "another edge, another ID");
        assert_eq!(a.ran[0].compared.as_ref().map(|c| c.verdict), Some(Differential::Worse));
    }

    #[test]
    fn only_a_senior_or_ci_accepts_and_an_accepted_difference_is_reported_not_dropped() {
        let mut x = [worse("api -> db", 1.0)];
        let id = x[0].ran[0].difference_id("api").unwrap();
        // Nobody accepted: it blocks.
        assert!(apply(&mut x, &[], Some(&seniors())).is_empty());
        assert_eq!(x[0].failed().count(), 1);
        // A review by someone who is not a senior does not count, and says so.
        let bob = Acceptance { id: id.clone(), by: "@bob".into(), source: "GitHub review of 1a2b3c4d5e".into() };
        let notes = apply(&mut x, std::slice::from_ref(&bob), Some(&seniors()));
        assert_eq!(x[0].failed().count(), 1);
        assert!(notes[0].contains("only a senior"), "{notes:?}");
        // A trailer-like source the change could write never counts, even from a senior.
        let forged = Acceptance { id: id.clone(), by: "@alice".into(), source: "Reviewed-by trailer".into() };
        apply(&mut x, &[forged], Some(&seniors()));
        assert_eq!(x[0].failed().count(), 1);
        // A senior's review accepts it: not failed, listed as accepted, with who and where.
        let alice = Acceptance { id: id.clone(), by: "@alice".into(), source: "GitHub review of 1a2b3c4d5e".into() };
        assert!(apply(&mut x, &[alice], Some(&seniors())).is_empty());
        assert_eq!(x[0].failed().count(), 0);
        let acc: Vec<_> = x[0].accepted().collect();
        assert_eq!(acc.len(), 1);
        assert_eq!(acc[0].accepted.as_ref().map(|a| a.by.as_str()), Some("@alice"));
        // A GitLab note of the head by a senior accepts it the same way; by anyone else, not.
        let mut y = [worse("api -> db", 1.0)];
        let note = |by: &str| Acceptance { id: id.clone(), by: by.into(), source: "GitLab note of 1a2b3c4d5e".into() };
        assert!(apply(&mut y, &[note("@bob")], Some(&seniors()))[0].contains("only a senior"));
        assert_eq!(y[0].failed().count(), 1);
        assert!(apply(&mut y, &[note("@alice")], Some(&seniors())).is_empty());
        assert_eq!(y[0].ran[0].accepted.as_ref().map(|a| a.source.as_str()), Some("GitLab note of 1a2b3c4d5e"));
        // The command line counts as CI gave it, and an ID of nothing is said.
        let flags = from_flags(&[format!("{id}=carol@shop.example"), "d-0000000000".into()]);
        let notes = apply(&mut x, &flags, None);
        assert_eq!(
            x[0].ran[0].accepted.as_ref().map(|a| (a.by.as_str(), a.source.as_str())),
            Some(("carol@shop.example", FLAG))
        );
        assert!(notes.len() == 1 && notes[0].contains("d-0000000000 by the command line"), "{notes:?}");
    }

    #[test]
    fn an_unreadable_code_host_is_named_for_the_differences_it_could_have_accepted() {
        let mut x = [worse("api -> db", 1.0)];
        let id = x[0].ran[0].difference_id("api").unwrap();
        apply(&mut x, &[], Some(&seniors()));
        assert_eq!(unseen(&x, None), None, "the host was read: nothing to say");
        let said = unseen(&x, Some("GitHub answered 502")).unwrap();
        assert!(said.contains("GitHub answered 502") && said.contains(&id), "{said}");
        // Accepted by CI's flag: nothing stands that the host could have accepted.
        apply(&mut x, &from_flags(&[id]), None);
        assert_eq!(unseen(&x, Some("GitHub answered 502")), None);
    }

    #[test]
    fn a_review_accepts_the_ids_it_names() {
        let text = "Shorter deadline is deliberate.\nfaultline accept d-0123456789\nFaultline accept  D-ABCDEF0123, faultline accept d-12";
        assert_eq!(in_text(text), ["d-0123456789", "d-abcdef0123"]);
        assert!(in_text("faultline accepts d-0123456789").is_empty());
    }
}
