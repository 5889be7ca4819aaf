//! Two faults at once, reduced the way Filibuster's dynamic reduction does: after the single
//! faults ran, only faults that each changed what the service did are combined, two on two
//! different edges, at most [`MAX_PAIRS`] pairs.
//!
//! A single fault changed what the service did when, one request at a time, the workload's
//! answers were graded otherwise than in the reference run (a 502 where it answered 200, an
//! answer late), or its traffic differed: an edge the reference always used carried none, an
//! edge it never used carried some, or an edge carried another number of requests per
//! workload request (a retry, a call skipped). A fault that changed nothing is masked by
//! nothing either: paired with another, it adds nothing the other did not show alone. A
//! single fault that failed alone is a finding already and is not paired either.
//!
//! Pairs are chosen breadth first: the first changing fault of each edge with the first of
//! every other edge, then the next ones, so the cap spreads the pairs over the edges. The
//! pairs the cap leaves out are listed in the report's `skipped`, with why.

use std::collections::BTreeMap;

use super::{Results, attempts_per_request, traffic};
use crate::outcome::{Answered, ScenarioOutcome, Status};
use crate::scenario::experiments::{Experiment, InvalidExperiment, Mode, UsedEdge, Workload};

/// The most pairs of faults one exploration of a service runs.
pub const MAX_PAIRS: usize = 6;

/// What the service did in the reference run.
pub(super) struct Did<'a> {
    /// Each workload step's answers, by grade.
    pub answered: &'a [Answered],
    /// The edges that carried traffic, each with the passes it needed.
    pub used: &'a [UsedEdge],
    /// Per HTTP edge, its requests per workload request.
    pub per_request: &'a BTreeMap<String, (usize, String)>,
}

/// Experiments not run, each with why (the report's `skipped`).
pub(super) type Skipped = Vec<(String, String)>;

/// Two single faults, by their index.
pub(crate) type Pair = (usize, usize);

/// What one single fault did, for choosing pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Single {
    /// The edge it is on.
    pub on: String,
    /// It changed what the service did ([`changed`]).
    pub changed: bool,
    /// Its experiment passed (a failure is a finding already).
    pub passed: bool,
}

/// The pairs of `experiments`' single faults to run, as experiments, and those the cap left
/// out, as `(name, why)` for the report's `skipped`. None in a shard of an exploration split
/// by experiment (`share`): it holds only its share of the single faults' results.
pub(super) fn pairs(
    w: &Workload,
    config: &crate::config::Config,
    experiments: &[Experiment],
    results: &Results,
    reference: &Did,
    share: Option<&crate::outcome::ExploreShare>,
) -> Result<(Vec<Experiment>, Skipped), InvalidExperiment> {
    if share.is_some_and(|s| s.split == crate::outcome::Split::Experiments) {
        return Ok(Default::default());
    }
    // Single faults on an edge, one request at a time, that ran.
    let singles: Vec<(&Experiment, &ScenarioOutcome)> = experiments
        .iter()
        .filter(|e| e.mode == Mode::Sequential && e.with.is_none() && e.on.contains(" -> ") && e.faults.len() == 1)
        .filter_map(|e| match results.get(&e.name).and_then(|(_, o)| o.as_ref()) {
            Some((o, _)) if o.status != Status::Error => Some((e, o)),
            _ => None,
        })
        .collect();
    let judged: Vec<Single> = singles
        .iter()
        .map(|(e, o)| Single {
            on: e.on.clone(),
            changed: changed(o, reference, &w.service),
            passed: o.status == Status::Passed,
        })
        .collect();
    let (chosen, left) = choose(&judged, MAX_PAIRS);
    let mut out = Vec::new();
    for (i, j) in chosen {
        out.push(crate::scenario::experiments::pair(w, config, reference.used, singles[i].0, singles[j].0)?);
    }
    let why = format!(
        "a pair of faults that each changed what the service did, past the cap of {MAX_PAIRS} pairs per service"
    );
    let skipped = left
        .into_iter()
        .map(|(i, j)| (crate::scenario::experiments::pair_name(w, singles[i].0, singles[j].0), why.clone()))
        .collect();
    Ok((out, skipped))
}

/// Whether the run `o` of a single fault, one request at a time, did otherwise than the
/// reference: a step's answers graded otherwise than the same step of the reference (a run
/// of several passes compared pass by pass), an edge the reference's first pass used
/// without traffic, an edge the reference never used with some, or an HTTP edge with
/// another number of requests per workload request.
pub(crate) fn changed(o: &ScenarioOutcome, reference: &Did, service: &str) -> bool {
    let n = reference.answered.len().max(1);
    let answers = o.steps.iter().any(|s| reference.answered.get(s.index % n).is_some_and(|r| *r != s.answered));
    let seen: Vec<String> = traffic(o, Some(o.checks_ms)).iter().map(UsedEdge::name).collect();
    let gone = reference.used.iter().any(|u| u.passes == 1 && !seen.contains(&u.name()));
    let new = seen.iter().any(|s| !reference.used.iter().any(|u| u.name() == *s));
    let attempts = attempts_per_request(o, service);
    let edges = attempts.keys().chain(reference.per_request.keys());
    let retried = edges
        .filter(|e| reference.used.iter().any(|u| u.name() == **e && u.passes == 1))
        .any(|e| attempts.get(e).map(|a| a.0) != reference.per_request.get(e).map(|r| r.0));
    answers || gone || new || retried
}

/// Filibuster's dynamic reduction over `singles` (in the order they were generated): the
/// pairs `(i, j)` of two single faults on two different edges that each changed what the
/// service did and passed alone, breadth first (each edge's first such fault with every
/// other edge's first, then the second ones, …), at most `cap`; and the pairs the cap left out.
pub(crate) fn choose(singles: &[Single], cap: usize) -> (Vec<Pair>, Vec<Pair>) {
    // The candidates per edge, edges in the order of their first candidate.
    let mut edges: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, s) in singles.iter().enumerate().filter(|(_, s)| s.changed && s.passed) {
        match edges.iter_mut().find(|(on, _)| *on == s.on) {
            Some((_, list)) => list.push(i),
            None => edges.push((&s.on, vec![i])),
        }
    }
    let mut all = Vec::new();
    for (a, (_, first)) in edges.iter().enumerate() {
        for (b, (_, second)) in edges.iter().enumerate().skip(a + 1) {
            for (ri, i) in first.iter().enumerate() {
                for (rj, j) in second.iter().enumerate() {
                    all.push(((ri.max(rj), ri + rj, a, b), (*i, *j)));
                }
            }
        }
    }
    all.sort_by_key(|(rank, _)| *rank);
    let mut chosen: Vec<Pair> = all.into_iter().map(|(_, p)| p).collect();
    let left = chosen.split_off(cap.min(chosen.len()));
    (chosen, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(on: &str, changed: bool, passed: bool) -> Single {
        Single { on: on.into(), changed, passed }
    }

    #[test]
    fn only_faults_that_each_changed_what_the_service_did_and_passed_are_paired() {
        let singles = [
            single("api -> db", true, true),     // 0
            single("api -> db", false, true),    // 1: changed nothing
            single("api -> cache", true, true),  // 2
            single("api -> cache", true, false), // 3: failed alone, a finding already
            single("api -> auth", false, true),  // 4: changed nothing
        ];
        let (chosen, left) = choose(&singles, 6);
        assert_eq!(chosen, [(0, 2)]);
        assert!(left.is_empty());
        // Never two faults on one edge.
        let (chosen, _) = choose(&[single("a -> b", true, true), single("a -> b", true, true)], 6);
        assert!(chosen.is_empty());
        assert_eq!(choose(&[], 6), (vec![], vec![]));
    }

    /// One step (`GET api /call`) answered `ok` in time and `failed` with 5xx, and `db`
    /// requests on `api -> db` after the workload's request arrived.
    fn run(ok: usize, failed: usize, db: usize) -> ScenarioOutcome {
        let obs = |edge: &str, requests: Vec<serde_json::Value>| {
            serde_json::json!({ "edge": edge, "seed": 1, "elapsed_ms": 1000.0, "connections_opened": 1,
                "connections_by_outcome": {}, "bytes_upstream": 10 * requests.len(), "bytes_downstream": 0,
                "connections": [], "requests": requests, "latency": null })
        };
        let request = |path: &str, at: f64| {
            serde_json::json!({ "conn": 1, "seq": 1, "method": "GET", "path": path, "status": 200,
                "start_ms": at, "duration_ms": 1.0, "fault": null, "outcome": "answered" })
        };
        let v = serde_json::json!({
            "name": "x", "file": "x.yaml", "target": "api", "why": "", "seed": 1, "status": "passed", "error": null,
            "steps": [{ "index": 0, "step": "GET api /call", "passed": true, "expected": "", "observed": "",
                        "start_ms": 0.0, "end_ms": 100.0, "answered": { "ok": ok, "failed": failed } }],
            "checks": [],
            "edges": {
                "host -> api": obs("host -> api", vec![request("/call", 5.0)]),
                "api -> db": obs("api -> db", (0..db).map(|i| request("/call", 10.0 + i as f64)).collect()),
            },
            "edge_offsets_ms": {}, "checks_ms": 800.0, "stack_seconds": 0.0, "run_seconds": 0.0,
            "teardown_seconds": 0.0, "repro": ""
        });
        serde_json::from_value(v).expect("an outcome")
    }

    #[test]
    fn a_single_fault_changed_what_the_service_did_by_its_answers_or_its_traffic() {
        let answered = [Answered { ok: 1, ..Default::default() }];
        let used = [UsedEdge {
            from: "api".into(),
            to: "db".into(),
            http: true,
            passes: 1,
            statuses: Vec::new(),
            first: None,
            calls: 1,
        }];
        let per_request = BTreeMap::from([("api -> db".to_owned(), (1, "request 1 (GET /call)".to_owned()))]);
        let reference = Did { answered: &answered, used: &used, per_request: &per_request };
        assert!(!changed(&run(1, 0, 1), &reference, "api"), "as the reference did");
        assert!(changed(&run(0, 1, 1), &reference, "api"), "a 5xx where it answered");
        assert!(changed(&run(1, 0, 3), &reference, "api"), "a retry: 3 requests where 1");
        assert!(changed(&run(1, 0, 0), &reference, "api"), "db no longer called");
    }

    #[test]
    fn the_cap_spreads_the_pairs_over_the_edges_and_lists_the_rest() {
        // Three edges with three changing faults each: 27 pairs.
        let singles: Vec<Single> =
            ["a -> b", "a -> c", "a -> d"].iter().flat_map(|on| (0..3).map(move |_| single(on, true, true))).collect();
        let (chosen, left) = choose(&singles, 6);
        assert_eq!(chosen.len(), 6);
        assert_eq!(left.len(), 27 - 6);
        // Each pair of edges with its first faults first.
        assert_eq!(chosen[..3], [(0, 3), (0, 6), (3, 6)]);
        for (i, j) in chosen.iter().chain(&left) {
            assert_ne!(singles[*i].on, singles[*j].on, "two different edges");
        }
        let mut every: Vec<(usize, usize)> = chosen.iter().chain(&left).copied().collect();
        every.sort();
        every.dedup();
        assert_eq!(every.len(), 27, "each pair once");
    }
}
