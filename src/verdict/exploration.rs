//! Exploration's findings in the decision: what `runner::fault_search` could not judge or found
//! failing counts like a scenario that could not run or failed.

use crate::config::{PartialExploration, Unexercised};
use crate::outcome::{Decision, ExploreReport};

/// The verdict with exploration's findings: a service it could not judge, or an experiment
/// that could not run, is could not verify; a failed experiment blocks like a failed
/// scenario. What the budget left unexplored is said, and does not block. A declared edge no
/// run exercised is said too (a warning), and is could not verify when the rule's
/// `unexercised` (`policy` of the change's tier) says `unverified`. Experiments the budget
/// left unrun on the edges of a service the change touched make an exploration that found no
/// failure could not verify, unless the rule's `partial_exploration` is `allow`.
pub(crate) fn with_exploration(
    decision: Decision,
    mut reasons: Vec<String>,
    exploration: &[ExploreReport],
    unexercised: Unexercised,
    partial: PartialExploration,
) -> (Decision, Vec<String>) {
    let mut unverified = decision == Decision::Unverified;
    let mut blocked = decision == Decision::Block;
    for r in exploration {
        if r.error.is_none() && r.failed().next().is_none() && r.errors().next().is_none() && !r.ran.is_empty() {
            reasons.push(format!(
                "exploration of {}: {} experiments on {} passed",
                r.service,
                r.ran.len(),
                if r.edges.is_empty() { "no edge".to_owned() } else { r.edges.join(", ") }
            ));
        }
        if let Some(e) = &r.error {
            unverified = true;
            reasons.push(format!("exploration of {} could not judge: {e}", r.service));
            continue;
        }
        // Planned and nothing ran (a budget spent before the first experiment, by a change
        // that makes the stack slow, say): nothing was judged.
        if r.planned > 0 && r.ran.is_empty() {
            unverified = true;
            reasons.push(format!(
                "exploration of {}: none of its {} experiments ran within the budget",
                r.service, r.planned
            ));
        }
        // A flavour's difference seen once and not run again says nothing certain; beside a
        // confirmed failure of the same exploration the change is blocked anyway, so it is
        // said and does not turn the block into could not verify.
        let confirmed = r.failed().next().is_some();
        for x in r.errors() {
            let moot = confirmed
                && x.outcome.checks.iter().any(|c| c.unobserved && crate::outcome::family::is_family_check(&c.check));
            unverified |= !moot;
            reasons.push(format!(
                "exploration of {}: {} could not run: {}{}",
                r.service,
                x.outcome.name,
                x.outcome.error.as_deref().unwrap_or("unknown error"),
                if moot { " (a failure of this exploration is confirmed, which decides)" } else { "" }
            ));
        }
        blocked |= r.failed().next().is_some();
        reasons.extend(failures(r));
        if !r.not_exercised.is_empty() {
            unverified |= unexercised == Unexercised::Unverified;
            let edges: Vec<String> = r.not_exercised.iter().map(|n| format!("{} ({})", n.edge, n.why)).collect();
            reasons.push(format!(
                "exploration of {}: {} declared edge{} not exercised, never faulted{}: {}",
                r.service,
                edges.len(),
                if edges.len() == 1 { "" } else { "s" },
                match unexercised {
                    Unexercised::Warn => " (a warning: the rule's `unexercised` is `warn`)",
                    Unexercised::Unverified => " (could not verify: the rule's `unexercised` is `unverified`)",
                },
                edges.join("; ")
            ));
        }
        let weak: Vec<String> = r.known_weaknesses().map(|x| x.what()).collect();
        if !weak.is_empty() {
            reasons.push(format!(
                "exploration of {}: {} known weakness{} the base revision shares, not blamed on the change: {}",
                r.service,
                weak.len(),
                if weak.len() == 1 { "" } else { "es" },
                weak.join(", ")
            ));
        }
        // After a failure the rest is left unrun on purpose (the gate: one failure decides).
        if !r.unexplored_touched.is_empty() && r.failed().next().is_none() {
            unverified |= partial == PartialExploration::Unverified;
            reasons.push(format!(
                "exploration of {}: {} experiment{} on the edges of a service the change touched did not run within the budget{}: {}",
                r.service,
                r.unexplored_touched.len(),
                if r.unexplored_touched.len() == 1 { "" } else { "s" },
                match partial {
                    PartialExploration::Unverified => {
                        " (could not verify: the rule's `partial_exploration` is `unverified`; raise --explore-budget or split with --partition)"
                    }
                    PartialExploration::Allow => " (the rule's `partial_exploration` is `allow`)",
                },
                r.unexplored_touched.join(", ")
            ));
        }
        if !r.unexplored.is_empty() {
            reasons.push(format!(
                "exploration of {}: {} of {} experiments not run (the budget ran out, or a failure was found already)",
                r.service,
                r.unexplored.len(),
                r.planned
            ));
        }
    }
    let decision = if unverified {
        Decision::Unverified
    } else if blocked {
        Decision::Block
    } else {
        decision
    };
    (decision, reasons)
}

/// An exploration's failures (each with its difference's id, for a senior to accept) and its
/// accepted differences, one reason each.
fn failures(r: &ExploreReport) -> Vec<String> {
    let mut reasons = Vec::new();
    for x in r.failed() {
        let how = x
            .outcome
            .first_failure()
            .map(|(what, expected, observed)| format!(" at {what}: expected {expected}, observed {observed}"))
            .unwrap_or_default();
        let id = x
            .difference
            .as_deref()
            .map(|id| {
                format!(
                    " (difference {id}: a senior accepts it with `faultline accept {id}` in a review or a GitLab note)"
                )
            })
            .unwrap_or_default();
        reasons.push(format!(
            "exploration of {} found a failure nobody wrote a scenario for: {} failed{how}{id}",
            r.service,
            x.what()
        ));
    }
    for x in r.accepted() {
        let (id, by) = (x.difference.as_deref().unwrap_or("?"), x.accepted.as_ref());
        reasons.push(format!(
            "exploration of {}: the difference {id} ({}) is accepted by {} ({}), not blocking",
            r.service,
            x.what(),
            by.map_or("?", |a| a.by.as_str()),
            by.map_or("?", |a| a.source.as_str()),
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::NotExercised;

    fn explored(not_exercised: Vec<NotExercised>) -> ExploreReport {
        ExploreReport { service: "api".into(), edges: vec!["api -> db".into()], not_exercised, ..Default::default() }
    }

    #[test]
    fn an_edge_not_exercised_warns_or_cannot_verify_as_the_rule_says() {
        let missed = vec![NotExercised { edge: "api -> cache".into(), why: "no traffic in 4 passes".into() }];
        let (d, reasons) = with_exploration(
            Decision::Allow,
            Vec::new(),
            &[explored(missed.clone())],
            Unexercised::Warn,
            PartialExploration::Unverified,
        );
        assert_eq!(d, Decision::Allow);
        let text = reasons.join("\n");
        assert!(text.contains("1 declared edge not exercised, never faulted (a warning"), "{text}");
        assert!(text.contains("api -> cache (no traffic in 4 passes)"), "{text}");
        let (d, reasons) = with_exploration(
            Decision::Allow,
            Vec::new(),
            &[explored(missed.clone())],
            Unexercised::Unverified,
            PartialExploration::Unverified,
        );
        assert_eq!(d, Decision::Unverified, "{reasons:?}");
        // A block stays at least could not verify; nothing not exercised changes nothing.
        let (d, _) = with_exploration(
            Decision::Block,
            Vec::new(),
            &[explored(missed)],
            Unexercised::Unverified,
            PartialExploration::Unverified,
        );
        assert_eq!(d, Decision::Unverified);
        let (d, reasons) = with_exploration(
            Decision::Allow,
            Vec::new(),
            &[explored(Vec::new())],
            Unexercised::Unverified,
            PartialExploration::Unverified,
        );
        assert_eq!(d, Decision::Allow);
        assert!(!reasons.join("\n").contains("not exercised"), "{reasons:?}");
    }

    #[test]
    fn experiments_left_unrun_on_a_touched_service_cannot_verify_unless_the_rule_allows() {
        // One experiment ran and passed; two did not run.
        let passed: crate::outcome::ExperimentResult = serde_json::from_value(serde_json::json!({
            "class": "down", "on": "api -> cache", "mode": "sequential",
            "outcome": { "name": "down-api-cache-seq", "file": "x.yaml", "target": "api", "why": "", "seed": 1,
                "status": "passed", "error": null, "steps": [], "checks": [], "edges": {}, "checks_ms": 0.0,
                "stack_seconds": 0.0, "run_seconds": 0.0, "teardown_seconds": 0.0, "repro": "" }
        }))
        .expect("an experiment");
        let cut = ExploreReport {
            service: "api".into(),
            planned: 3,
            ran: vec![passed],
            unexplored: vec!["down-api-db-seq".into(), "down-db-x-seq".into()],
            unexplored_touched: vec!["down-api-db-seq".into()],
            ..Default::default()
        };
        let (d, reasons) = with_exploration(
            Decision::Allow,
            Vec::new(),
            std::slice::from_ref(&cut),
            Unexercised::Warn,
            PartialExploration::Unverified,
        );
        assert_eq!(d, Decision::Unverified, "{reasons:?}");
        let text = reasons.join("\n");
        assert!(text.contains("1 experiment on the edges of a service the change touched"), "{text}");
        assert!(text.contains("down-api-db-seq") && text.contains("partial_exploration"), "{text}");
        let (d, reasons) = with_exploration(
            Decision::Allow,
            Vec::new(),
            std::slice::from_ref(&cut),
            Unexercised::Warn,
            PartialExploration::Allow,
        );
        assert_eq!(d, Decision::Allow, "{reasons:?}");
        assert!(reasons.join("\n").contains("did not run within the budget"), "listed all the same: {reasons:?}");
        // Only untouched services' experiments unrun: said, and the verdict stands.
        let other = ExploreReport { unexplored_touched: Vec::new(), ..cut };
        let (d, _) =
            with_exploration(Decision::Allow, Vec::new(), &[other], Unexercised::Warn, PartialExploration::Unverified);
        assert_eq!(d, Decision::Allow);
    }
}
