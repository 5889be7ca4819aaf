//! The base revision as the model: an experiment's outcome on the change against the same
//! experiment (same fault, same seed, same workload) on the base. Outcomes are ordered —
//! per step, requests answered in time with success, then rejected (4xx) in time, failed
//! (5xx) in time, answered late, not answered; a check held over one violated — and a change
//! that makes any of them worse under a fault is the change's doing, even when every
//! absolute oracle passes (a deadline cut so a slow 201 becomes a fast 503 the workload
//! tolerates). A failure the base shares is a weakness the system already has.

use crate::outcome::{Differential, ScenarioOutcome, Status};

/// Compares `head` with `base`: the verdict and what differs, one line each.
pub fn compare(head: &ScenarioOutcome, base: &ScenarioOutcome) -> (Differential, Vec<String>) {
    if head.status == Status::Error || base.status == Status::Error {
        let side = if base.status == Status::Error { "the base" } else { "the change" };
        let why = if base.status == Status::Error { &base.error } else { &head.error };
        return (Differential::Unjudged, vec![format!("{side} could not run it: {}", why.as_deref().unwrap_or("?"))]);
    }
    let (worse, better) = differences(head, base);
    if !worse.is_empty() {
        (Differential::Worse, worse.into_iter().map(|(_, line)| line).collect())
    } else if head.status == Status::Failed {
        let mut lines = vec!["the base fails this experiment too".to_owned()];
        lines.extend(better.into_iter().map(|(_, line)| line));
        (Differential::KnownWeakness, lines)
    } else if !better.is_empty() {
        (Differential::Better, better.into_iter().map(|(_, line)| line).collect())
    } else {
        (Differential::Same, Vec::new())
    }
}

/// What is worse on `head` than on `base`, each by its name only (`step 2 (GET api /call)`,
/// a check's name): no timing, no count, so the same regression has the same names in every
/// run (a difference's ID is made of them).
pub fn worse_items(head: &ScenarioOutcome, base: &ScenarioOutcome) -> Vec<String> {
    differences(head, base).0.into_iter().map(|(item, _)| item).collect()
}

/// `(item, line)` worse, and better, on `head` than on `base`.
type Lines = Vec<(String, String)>;

fn differences(head: &ScenarioOutcome, base: &ScenarioOutcome) -> (Lines, Lines) {
    let mut worse = Vec::new();
    let mut better = Vec::new();
    for h in &head.steps {
        let Some(b) = base.steps.iter().find(|b| b.index == h.index) else { continue };
        let what = format!("step {} ({})", h.index + 1, h.step);
        if h.answered.worse_than(&b.answered) {
            worse.push((what.clone(), format!("{what}: the base {}; this change {}", b.answered, h.answered)));
        } else if b.answered.worse_than(&h.answered) {
            better.push((what.clone(), format!("{what}: the base {}; this change {}", b.answered, h.answered)));
        } else if !h.passed && b.passed {
            worse.push((what.clone(), format!("{what} fails here and passes on the base: observed {}", h.observed)));
        } else if h.passed && !b.passed {
            better.push((what.clone(), format!("{what} passes here and fails on the base")));
        }
    }
    for h in &head.checks {
        let Some(b) = base.checks.iter().find(|b| b.check == h.check) else { continue };
        let violated = |c: &crate::outcome::CheckOutcome| !c.passed && !c.unobserved;
        if violated(h) && b.passed {
            worse.push((
                h.check.clone(),
                format!("{} is violated here and holds on the base: observed {}", h.check, h.observed),
            ));
        } else if h.passed && violated(b) {
            better.push((h.check.clone(), format!("{} holds here and is violated on the base", h.check)));
        }
    }
    (worse, better)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Answered, CheckOutcome, StepOutcome};

    fn outcome(answered: Answered, passed: bool, check: Option<bool>) -> ScenarioOutcome {
        let mut o: ScenarioOutcome =
            serde_json::from_value(serde_json::json!({"name": "e", "file": "e.yaml", "target": "api", "why": "w",
                "seed": 1, "status": "passed", "steps": [], "checks": [], "edges": {}, "edge_offsets_ms": {},
                "faults": [], "checks_ms": 0.0, "stack_seconds": 0.0, "run_seconds": 0.0, "teardown_seconds": 0.0,
                "repro": "r", "stack": {"reused": false}}))
            .expect("an outcome");
        o.steps.push(StepOutcome {
            index: 0,
            step: "GET api /call".into(),
            passed,
            expected: "-".into(),
            observed: "-".into(),
            start_ms: 0.0,
            end_ms: 1.0,
            answered,
        });
        if let Some(p) = check {
            o.checks.push(CheckOutcome {
                index: 0,
                line: 1,
                check: "recovers".into(),
                passed: p,
                expected: "-".into(),
                observed: "-".into(),
                unobserved: false,
            });
        }
        o.judge();
        o
    }

    fn ok(n: usize) -> Answered {
        Answered { ok: n, ..Default::default() }
    }

    #[test]
    fn a_fast_error_where_the_base_answered_is_worse_even_when_both_pass() {
        let head = outcome(Answered { failed: 1, ..Default::default() }, true, None);
        let (v, lines) = compare(&head, &outcome(ok(1), true, None));
        assert_eq!(v, Differential::Worse, "{lines:?}");
        assert!(lines[0].contains("the base 1 answered in time; this change 1 failed (5xx) in time"), "{lines:?}");
        // The other way round it is better.
        assert_eq!(compare(&outcome(ok(1), true, None), &head).0, Differential::Better);
    }

    #[test]
    fn a_failure_the_base_shares_is_a_known_weakness_and_a_new_one_is_worse() {
        let late = Answered { late: 1, ..Default::default() };
        let (v, _) = compare(&outcome(late, false, Some(false)), &outcome(late, false, Some(false)));
        assert_eq!(v, Differential::KnownWeakness);
        let (v, lines) = compare(&outcome(late, false, Some(false)), &outcome(late, false, Some(true)));
        assert_eq!(v, Differential::Worse, "{lines:?}");
        assert!(lines[0].contains("recovers is violated here and holds on the base"), "{lines:?}");
        assert_eq!(compare(&outcome(ok(2), true, Some(true)), &outcome(ok(2), true, Some(true))).0, Differential::Same);
    }

    #[test]
    fn grades_are_compared_as_a_whole_not_request_by_request() {
        let mixed = Answered { ok: 1, failed: 1, ..Default::default() };
        let flipped = Answered { ok: 1, failed: 1, ..Default::default() };
        assert!(!mixed.worse_than(&flipped));
        assert!(Answered { ok: 1, none: 1, ..Default::default() }.worse_than(&mixed));
        assert!(!mixed.worse_than(&Answered { ok: 1, none: 1, ..Default::default() }));
        // Different numbers of requests are not compared.
        assert!(!ok(1).worse_than(&ok(2)));
    }
}
