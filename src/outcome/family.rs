//! Equivalent faults, equivalent outcomes: transient failures that differ only in flavour
//! (`scenario::experiments::TRANSIENT`: 503, 502, 504, 500, a reset before the reply) on the
//! same edge, in the same mode, must leave the workload's client with the same outcome —
//! each step's answers by grade, and the attempts one workload request made on the edge. A
//! client that masks one flavour (a retry succeeds) must mask every flavour; one that treats
//! a 502 unlike a 503 is wrong under one of them.

use super::{Answered, CheckOutcome, ScenarioOutcome};

/// What the workload's client saw under one experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSaw {
    /// Each request step: its index, its name, its answers by grade.
    pub steps: Vec<(usize, String, Answered)>,
    /// The most requests the faulted edge carried during one workload request (one request
    /// at a time only; `None` otherwise).
    pub attempts: Option<usize>,
}

impl ClientSaw {
    pub fn of(o: &ScenarioOutcome, attempts: Option<usize>) -> ClientSaw {
        let steps =
            o.steps.iter().filter(|s| !s.answered.is_empty()).map(|s| (s.index, s.step.clone(), s.answered)).collect();
        ClientSaw { steps, attempts }
    }
}

/// How `other` differs from `first`, one line per difference, each side named (`503`, `502`).
pub fn differences(first: &ClientSaw, first_is: &str, other: &ClientSaw, other_is: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, step, a) in &other.steps {
        let Some((_, _, b)) = first.steps.iter().find(|(j, _, _)| j == i) else { continue };
        if a != b {
            out.push(format!("step {} ({step}): under {other_is} {a}; under {first_is} {b}", i + 1));
        }
    }
    if let (Some(a), Some(b)) = (other.attempts, first.attempts)
        && a != b
    {
        out.push(format!("attempts per workload request on the edge: under {other_is} {a}; under {first_is} {b}"));
    }
    out
}

/// The class of the experiment the others of the transient family are compared with
/// (`scenario::experiments::TRANSIENT`'s first).
pub const FIRST: &str = crate::scenario::experiments::TRANSIENT[0];

/// The start of the name of every family check.
const CHECK: &str = "the same outcome for the client under ";

/// Whether a check is a family check ([`check`]).
pub fn is_family_check(name: &str) -> bool {
    name.starts_with(CHECK)
}

/// The check an experiment of a family gets: the same outcome as the family's first
/// experiment (`first`, its name and flavour), or what differs. A difference counts only
/// `confirmed` (seen again when both ran again); one seen once that could not be run again
/// (no budget left) neither counts nor is dismissed: the check observed nothing certain, so
/// the experiment could not be verified.
pub fn check(
    index: usize,
    first: (&str, &str),
    other_is: &str,
    differences: &[String],
    confirmed: bool,
) -> CheckOutcome {
    let (first_name, first_is) = first;
    let passed = differences.is_empty();
    let mut observed = if passed {
        format!("the same answers and attempts as under {first_is} ({first_name})")
    } else {
        format!("{} (this experiment beside {first_name})", differences.join("; "))
    };
    if confirmed && !passed {
        observed.push_str("; seen again in a second run of both");
    }
    let unobserved = !passed && !confirmed;
    if unobserved {
        observed.push_str("; seen once, and no budget was left to run both again: timing noise cannot be ruled out");
    }
    CheckOutcome {
        index,
        line: 0,
        check: format!("{CHECK}{other_is} as under {first_is}"),
        passed,
        expected: format!(
            "what the workload's client sees does not depend on the flavour of a transient failure: as under {first_is} ({first_name})"
        ),
        observed,
        unobserved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saw(ok: usize, failed: usize, attempts: Option<usize>) -> ClientSaw {
        ClientSaw { steps: vec![(0, "GET api /call".into(), Answered { ok, failed, ..Default::default() })], attempts }
    }

    #[test]
    fn a_flavour_masked_by_a_retry_must_be_masked_for_every_flavour() {
        // 503 retried until it succeeds; 502 not retried.
        let d = differences(&saw(1, 0, Some(3)), "503", &saw(0, 1, Some(1)), "502");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("under 502 1 failed (5xx) in time; under 503 1 answered in time"), "{d:?}");
        assert!(d[1].contains("under 502 1; under 503 3"), "{d:?}");
        let c = check(4, ("explore-api-errors-first-seq", "503"), "502", &d, true);
        assert!(
            !c.passed
                && c.observed.contains("beside explore-api-errors-first-seq")
                && c.observed.contains("seen again")
        );
        // Both failed the same way: the same outcome.
        assert!(differences(&saw(0, 1, Some(1)), "503", &saw(0, 1, Some(1)), "a reset").is_empty());
        assert!(check(0, ("a", "503"), "500", &[], false).passed);
        // Seen once, not run again: neither a failure nor a pass.
        let once = check(1, ("a", "503"), "502", &d, false);
        assert!(once.unobserved && !once.passed && once.observed.contains("seen once"), "{once:?}");
        // Attempts are compared only when both counted them; steps only with a counterpart.
        assert!(differences(&saw(1, 0, None), "503", &saw(1, 0, Some(2)), "502").is_empty());
        let other =
            ClientSaw { steps: vec![(1, "x".into(), Answered { none: 1, ..Default::default() })], attempts: None };
        assert!(differences(&saw(1, 0, None), "503", &other, "502").is_empty());
    }
}
