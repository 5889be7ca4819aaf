//! `report merge` gives the unsharded gate's verdict, whatever the scenarios observed: every
//! combination of a step's and a check's outcome and a run's error, split over 2 and 3
//! shards as `--partition` splits them, with and without a missing sign-off, merged by the
//! library and compared with the gate's own judgement of the same observations. No Docker:
//! the outcomes are built as the runner records them.

use std::path::PathBuf;
use std::time::Instant;

use faultline::outcome::{
    CheckOutcome, Decision, ExperimentResult, ExploreReport, ExploreShare, GateReport, Partition, RunBinding,
    ScenarioOutcome, SignoffState, Split, Status, StepOutcome, plan_digest,
};
use faultline::plan::Plan;
use faultline::scenario::experiments::Mode;
use faultline::verdict::{GivenApprovals, signoff};

/// What one check observed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    None,
    Passed,
    Failed,
    /// Nothing crossed the edge it bounds: it could not judge.
    Unobserved,
    /// One failed check and one that observed nothing.
    FailedAndUnobserved,
}

/// The ingredients of one scenario's outcome.
#[derive(Debug, Clone, Copy)]
struct Kind {
    step_passed: bool,
    check: Check,
    /// The runner recorded an error (a fault that could not be applied, a step that could
    /// not be sent).
    error: bool,
}

fn kinds() -> Vec<Kind> {
    let checks = [Check::None, Check::Passed, Check::Failed, Check::Unobserved, Check::FailedAndUnobserved];
    let mut out = Vec::new();
    for step_passed in [true, false] {
        for check in checks {
            for error in [false, true] {
                out.push(Kind { step_passed, check, error });
            }
        }
    }
    out
}

/// The gate's rule, written out: an error stands; a failed step or a failed check that
/// observed something fails; else a check that observed nothing cannot verify.
fn gate_rule(k: Kind) -> Status {
    if k.error {
        Status::Error
    } else if !k.step_passed || matches!(k.check, Check::Failed | Check::FailedAndUnobserved) {
        Status::Failed
    } else if k.check == Check::Unobserved {
        Status::Error
    } else {
        Status::Passed
    }
}

fn check(index: usize, passed: bool, unobserved: bool) -> CheckOutcome {
    CheckOutcome {
        index,
        line: 10 + index,
        check: format!("requests on api -> db (check {index})"),
        passed,
        expected: "≥ 1".into(),
        observed: if unobserved { "no request crossed the edge".into() } else { "3".into() },
        unobserved,
    }
}

/// The outcome as the runner has it before judging: steps and checks recorded, `error`
/// when something could not run.
fn observed(name: &str, k: Kind) -> ScenarioOutcome {
    let checks = match k.check {
        Check::None => vec![],
        Check::Passed => vec![check(0, true, false)],
        Check::Failed => vec![check(0, false, false)],
        Check::Unobserved => vec![check(0, false, true)],
        Check::FailedAndUnobserved => vec![check(0, false, false), check(1, false, true)],
    };
    let o = ScenarioOutcome {
        name: name.to_owned(),
        file: format!("scenarios/{name}.yaml"),
        target: "api".into(),
        why: "a test".into(),
        seed: 7,
        status: Status::Passed,
        error: None,
        steps: vec![StepOutcome {
            index: 0,
            step: "GET api /orders".into(),
            passed: k.step_passed,
            expected: "200".into(),
            observed: if k.step_passed { "200".into() } else { "502".into() },
            start_ms: 0.0,
            end_ms: 5.0,
            answered: Default::default(),
        }],
        checks,
        edges: Default::default(),
        edge_offsets_ms: Default::default(),
        faults: vec![],
        checks_ms: 6.0,
        stack_seconds: 1.0,
        run_seconds: 1.0,
        teardown_seconds: 0.5,
        repro: format!("faultline run --scenario {name} --seed 7"),
        stack: Default::default(),
        edge_bytes_before_steps: Default::default(),
    };
    if k.error { o.error("a fault could not be applied: the container is gone".into()) } else { o }
}

/// What the gate writes for it: judged as the runner judges.
fn judged(name: &str, k: Kind) -> ScenarioOutcome {
    let mut o = observed(name, k);
    o.judge();
    o
}

fn plan(scenarios: &[String], explore: &[&str], signoff_required: bool) -> Plan {
    serde_json::from_value(serde_json::json!({
        "base": {"rev": "main", "commit": "a".repeat(40)},
        "head": {"rev": "HEAD", "commit": "b".repeat(40)},
        "merge_base": "a".repeat(40),
        "config": {"from": "revision", "rev": "main", "commit": "a".repeat(40)},
        "changed": [], "commits": [], "ai_assisted": false, "ai_evidence": [],
        "tier": null, "tier_reason": null, "affected": [], "stack": [], "stack_levels": [], "gate": null,
        "scenarios": scenarios, "scenario_files": [], "scenarios_available": scenarios.len(),
        "signoff_required": signoff_required, "seniors": ["alice@shop.example"], "explore": explore,
    }))
    .expect("a plan")
}

/// One gate's input: its scenarios, an exploration of `api` if any, the plan and sign-off.
struct Gate {
    outcomes: Vec<ScenarioOutcome>,
    exploration: Option<ExploreReport>,
    plan: Plan,
    signoff: SignoffState,
    /// The approvals from outside the change: what the unsharded gate and `report merge` read.
    given: GivenApprovals,
}

impl Gate {
    fn new(outcomes: Vec<ScenarioOutcome>, exploration: Option<ExploreReport>, required: bool, approved: bool) -> Gate {
        let names: Vec<String> = outcomes.iter().map(|o| o.name.clone()).collect();
        let plan = plan(&names, if exploration.is_some() { &["api"] } else { &[] }, required);
        let approvals = if approved { vec!["alice@shop.example".to_owned()] } else { vec![] };
        let given = GivenApprovals::from_flags(&approvals);
        let signoff = signoff(&plan, &given);
        Gate { outcomes, exploration, plan, signoff, given }
    }

    /// The report of the gate run with `partition` (all of it with `None`), decided by the
    /// gate's own `GateReport::decide`.
    fn report(&self, partition: Option<Partition>) -> GateReport {
        let mine = |name: &str| partition.is_none_or(|p| p.contains(name));
        let report = GateReport {
            version: 1,
            decision: Decision::Unverified,
            reasons: vec![],
            seed: 7,
            plan: Some(self.plan.clone()),
            signoff: Some(self.signoff.clone()),
            scenarios: vec![],
            timings: Default::default(),
            partition,
            run: Some(RunBinding {
                base: "a".repeat(40),
                head: Some("b".repeat(40)),
                config_digest: "c".repeat(64),
                plan_digest: plan_digest(&self.plan),
            }),
            exploration: self.exploration.iter().filter(|x| mine(&x.service)).cloned().collect(),
            prepare: vec![],
        };
        let outcomes = self.outcomes.iter().filter(|o| mine(&o.name)).cloned().collect();
        report.decide(outcomes, Instant::now())
    }

    /// The shards' reports, written to `verdict.json` and read back, merged.
    fn merged(&self, count: u32) -> GateReport {
        let shards: Vec<(PathBuf, GateReport)> = (1..=count)
            .map(|index| {
                let r = self.report(Some(Partition { index, count }));
                let back = serde_json::from_slice(&serde_json::to_vec(&r).expect("serialises")).expect("reads back");
                (PathBuf::from(format!("shard-{index}/verdict.json")), back)
            })
            .collect();
        let expected = faultline::report::merge::ExpectedRun::default();
        faultline::report::merge::merge(shards, &self.given, &expected).expect("shards of one gate merge")
    }
}

/// The merged report says what the unsharded gate says: the decision, and each scenario's
/// status (and its error).
fn assert_same(gate: &Gate, what: &str) {
    let whole = gate.report(None);
    for count in [2, 3] {
        let merged = gate.merged(count);
        let status = |r: &GateReport| {
            let mut v: Vec<_> = r.scenarios.iter().map(|o| (o.name.clone(), o.status, o.error.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(status(&merged), status(&whole), "{what}, {count} shards: statuses");
        assert_eq!(
            merged.decision,
            whole.decision,
            "{what}, {count} shards: merged {:?} ({}), unsharded {:?} ({})",
            merged.decision,
            merged.reasons.join("; "),
            whole.decision,
            whole.reasons.join("; ")
        );
        let experiments = |r: &GateReport| -> Vec<Status> {
            r.exploration.iter().flat_map(|x| x.ran.iter().map(|e| e.outcome.status)).collect()
        };
        assert_eq!(experiments(&merged), experiments(&whole), "{what}, {count} shards: experiments");
        // A merged report annotates the workflow as the unsharded gate does.
        let notes = |r: &GateReport| {
            let mut v = faultline::report::summary::annotations(r);
            v.sort();
            v
        };
        assert_eq!(notes(&merged), notes(&whole), "{what}, {count} shards: annotations");
        let failed = whole.scenarios.iter().filter(|o| o.status != Status::Passed).count();
        assert_eq!(notes(&whole).iter().filter(|n| n.starts_with("::error ")).count(), failed, "{what}");
    }
}

#[test]
fn the_judge_is_the_gates_rule() {
    for k in kinds() {
        assert_eq!(judged("s", k).status, gate_rule(k), "{k:?}");
    }
    // The case `report merge` judged otherwise: a failure is a finding even when another
    // check could not judge.
    let k = Kind { step_passed: false, check: Check::Unobserved, error: false };
    assert_eq!(judged("s", k).status, Status::Failed);
    // Judging twice changes nothing (the runner judges experiments again after the attempts
    // oracle; `report merge` judges what the runner judged).
    for k in kinds() {
        let mut o = judged("s", k);
        o.judge();
        assert_eq!((o.status, o.error), (judged("s", k).status, judged("s", k).error), "{k:?}");
    }
}

#[test]
fn merged_shards_give_the_unsharded_verdict_for_every_outcome() {
    let kinds = kinds();
    let signoffs = [(false, false), (true, true), (true, false)];
    // Each kind alone, and every pair of kinds in one gate.
    for (i, a) in kinds.iter().enumerate() {
        for (j, b) in kinds.iter().enumerate().skip(i) {
            let mut outcomes = vec![judged(&format!("s{i:02}-a"), *a)];
            if j != i {
                outcomes.push(judged(&format!("s{j:02}-b"), *b));
            }
            for (required, approved) in signoffs {
                let what = format!("{a:?} + {b:?}, sign-off required {required}, approved {approved}");
                assert_same(&Gate::new(outcomes.clone(), None, required, approved), &what);
            }
        }
    }
}

#[test]
fn merged_shards_give_the_unsharded_verdict_for_every_experiment() {
    for (i, k) in kinds().into_iter().enumerate() {
        let experiment = ExperimentResult {
            class: "down".into(),
            on: "api -> db".into(),
            mode: Mode::Sequential,
            with: None,
            outcome: judged(&format!("explore-api-{i}"), k),
            scenario: None,
            compared: None,
            difference: None,
            accepted: None,
            outage: None,
        };
        let exploration = ExploreReport {
            service: "api".into(),
            seed: 7,
            edges: vec!["api -> db".into()],
            planned: 1,
            ran: vec![experiment],
            ..Default::default()
        };
        let passing = Kind { step_passed: true, check: Check::Passed, error: false };
        let outcomes = vec![judged("s-a", passing), judged("s-b", passing)];
        assert_same(&Gate::new(outcomes, Some(exploration), false, false), &format!("experiment {k:?}"));
    }
}

/// This shard's part of `x` as `gate --partition` records it: the whole catalogue, the
/// experiments of its share.
fn part(x: &ExploreReport, p: Partition) -> ExploreReport {
    let catalogue: Vec<String> = x.ran.iter().map(|e| e.outcome.name.clone()).collect();
    let ran: Vec<ExperimentResult> = x.ran.iter().filter(|e| p.holds_experiment(&e.outcome.name)).cloned().collect();
    ExploreReport {
        planned: ran.len(),
        ran,
        share: Some(ExploreShare { partition: p, catalogue, split: Split::Experiments }),
        ..x.clone()
    }
}

/// The gate's shards with the exploration split by experiment, each edited by `edit`, merged.
fn merged_split(gate: &Gate, count: u32, edit: &dyn Fn(u32, &mut ExploreReport)) -> GateReport {
    let shards: Vec<(PathBuf, GateReport)> = (1..=count)
        .map(|index| {
            let p = Partition { index, count };
            let mut r = gate.report(Some(p));
            r.exploration = gate.exploration.iter().map(|x| part(x, p)).collect();
            for x in &mut r.exploration {
                edit(index, x);
            }
            let r = r.decide(gate.outcomes.iter().filter(|o| p.contains(&o.name)).cloned().collect(), Instant::now());
            let back = serde_json::from_slice(&serde_json::to_vec(&r).expect("serialises")).expect("reads back");
            (PathBuf::from(format!("shard-{index}/verdict.json")), back)
        })
        .collect();
    faultline::report::merge::merge(shards, &gate.given, &Default::default()).expect("shards of one gate merge")
}

#[test]
fn experiments_split_across_shards_merge_into_the_unsharded_exploration() {
    let classes = ["down", "slow", "slow-past-deadline", "reset", "close", "http-503", "http-drop", "blackhole"];
    let kinds = kinds();
    for (i, bad) in kinds.iter().enumerate() {
        // Every experiment passes but one, of each kind in turn.
        let ran: Vec<ExperimentResult> = classes
            .iter()
            .flat_map(|c| ["seq", "conc"].map(move |m| (c, m)))
            .enumerate()
            .map(|(j, (class, m))| {
                let passing = Kind { step_passed: true, check: Check::Passed, error: false };
                ExperimentResult {
                    class: (*class).into(),
                    on: "api -> db".into(),
                    mode: if m == "seq" { Mode::Sequential } else { Mode::Concurrent },
                    with: None,
                    outcome: judged(&format!("explore-api-api-db-{class}-{m}"), if j == i { *bad } else { passing }),
                    scenario: None,
                    compared: None,
                    difference: None,
                    accepted: None,
                    outage: None,
                }
            })
            .collect();
        let exploration = ExploreReport {
            service: "api".into(),
            seed: 7,
            edges: vec!["api -> db".into()],
            planned: ran.len(),
            ran,
            ..Default::default()
        };
        let passing = Kind { step_passed: true, check: Check::Passed, error: false };
        let gate = Gate::new(vec![judged("s-a", passing)], Some(exploration), false, false);
        let whole = gate.report(None);
        let names = |r: &GateReport| -> Vec<(String, Status)> {
            r.exploration
                .iter()
                .flat_map(|x| x.ran.iter().map(|e| (e.outcome.name.clone(), e.outcome.status)))
                .collect()
        };
        for count in [2, 3] {
            let merged = merged_split(&gate, count, &|_, _| {});
            assert_eq!(merged.decision, whole.decision, "{bad:?}, {count} shards: {}", merged.reasons.join("; "));
            assert_eq!(names(&merged), names(&whole), "{bad:?}, {count} shards: the same experiments, in order");
        }
    }
    // Parts that do not add up cannot be vouched for: an experiment dropped by its shard, a
    // shard whose reference gave another catalogue, an experiment run by a shard it is not
    // the share of.
    let ran: Vec<ExperimentResult> = classes
        .iter()
        .map(|class| ExperimentResult {
            class: (*class).into(),
            on: "api -> db".into(),
            mode: Mode::Sequential,
            with: None,
            outcome: judged(
                &format!("explore-api-api-db-{class}-seq"),
                Kind { step_passed: true, check: Check::Passed, error: false },
            ),
            scenario: None,
            compared: None,
            difference: None,
            accepted: None,
            outage: None,
        })
        .collect();
    let exploration =
        ExploreReport { service: "api".into(), seed: 7, planned: ran.len(), ran: ran.clone(), ..Default::default() };
    let passing = Kind { step_passed: true, check: Check::Passed, error: false };
    let gate = Gate::new(vec![judged("s-a", passing)], Some(exploration), false, false);
    assert_eq!(merged_split(&gate, 3, &|_, _| {}).decision, Decision::Allow);
    let dropped = merged_split(&gate, 3, &|_, x| {
        x.ran.pop();
    });
    assert_eq!(dropped.decision, Decision::Unverified);
    assert!(dropped.reasons.iter().any(|r| r.contains("is in no shard")), "{:?}", dropped.reasons);
    let other = merged_split(&gate, 3, &|i, x| {
        if i == 2
            && let Some(s) = &mut x.share
        {
            s.catalogue.pop();
        }
    });
    assert_eq!(other.decision, Decision::Unverified);
    assert!(other.reasons.iter().any(|r| r.contains("other experiments")), "{:?}", other.reasons);
    let foreign = merged_split(&gate, 3, &|i, x| {
        if i == 1 {
            let p = Partition { index: 1, count: 3 };
            x.ran = ran.iter().filter(|e| !p.holds_experiment(&e.outcome.name)).take(1).cloned().collect();
        }
    });
    assert_eq!(foreign.decision, Decision::Unverified);
    assert!(foreign.reasons.iter().any(|r| r.contains("not of its share")), "{:?}", foreign.reasons);
}

/// A difference a senior accepted where the shards could not see it (they read no
/// approvals; `report merge` does): the shard that found it blocked on its own, and the
/// merge, given the acceptance, allows as the unsharded gate given it does. Without the
/// acceptance, the block stands.
#[test]
fn a_difference_accepted_at_the_merge_lifts_the_block_of_the_shard_that_found_it() {
    let passing = Kind { step_passed: true, check: Check::Passed, error: false };
    let ran: Vec<ExperimentResult> = ["down", "errors-first", "errors-first-502", "reset-first"]
        .iter()
        .map(|class| {
            let mut outcome = observed(&format!("explore-api-api-db-{class}-seq"), passing);
            if *class == "errors-first-502" {
                outcome.checks[0].check = "the same outcome for the client under 502 as under 503".into();
                outcome.checks[0].passed = false;
            }
            outcome.judge();
            ExperimentResult {
                class: (*class).into(),
                on: "api -> db".into(),
                mode: Mode::Sequential,
                with: None,
                outcome,
                scenario: None,
                compared: None,
                difference: None,
                accepted: None,
                outage: None,
            }
        })
        .collect();
    let id = ran[2].difference_id("api").expect("a difference");
    let exploration = ExploreReport { service: "api".into(), seed: 7, planned: ran.len(), ran, ..Default::default() };
    let mut gate = Gate::new(vec![judged("s-a", passing)], Some(exploration), false, false);
    for count in [2, 3] {
        let merged = merged_split(&gate, count, &|_, _| {});
        assert_eq!(merged.decision, Decision::Block, "{count} shards, nothing accepted: {:?}", merged.reasons);
    }
    gate.given.accepts = faultline::verdict::accept::from_flags(&[format!("{id}=@alice")]);
    for count in [2, 3] {
        let merged = merged_split(&gate, count, &|_, _| {});
        assert_eq!(merged.decision, Decision::Allow, "{count} shards, accepted: {:?}", merged.reasons);
        assert!(merged.reasons.iter().any(|r| r.contains("accepted by @alice")), "{:?}", merged.reasons);
    }
}
