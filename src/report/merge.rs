//! `faultline report merge`: the reports of the shards of one gate (`--partition K/N`) as
//! one verdict. Every shard is bound to its run ([`RunBinding`]: base and head object ids,
//! the digests of the configuration and of the plan) and carries its index and count; shards
//! that disagree on any of these, repeat an index, or are of another run than the one the
//! merge is told about ([`ExpectedRun`]) are refused, naming the shard and the field. A
//! missing shard makes the merged verdict "could not verify". Approvals are not taken from
//! the shards: the merge, which decides, is handed them ([`verdict::GivenApprovals`]).

use std::path::{Path, PathBuf};

use crate::outcome::{
    Decision, ExploreReport, GateReport, GateTimings, PoolCounts, RunBinding, ScenarioOutcome, plan_digest,
};
use crate::verdict;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReportError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a faultline verdict: {reason}", path.display())]
    #[diagnostic(help("give the directory `faultline gate --report DIR` wrote, or its verdict.json"))]
    Foreign { path: PathBuf, reason: String },
    #[error("{} was written by a gate that could not plan ({reason}): there is nothing to merge or reproduce", path.display())]
    NoPlan { path: PathBuf, reason: String },
    #[error("{} is not a shard: it was not run with --partition", path.display())]
    NotAShard { path: PathBuf },
    #[error("{} is bound to no run (base, head, digests): it was not written by a gate of this faultline", path.display())]
    #[diagnostic(help(
        "merge the report directories `faultline gate --partition K/N --report DIR` wrote, all of one run"
    ))]
    Unbound { path: PathBuf },
    #[error("{}: run.plan_digest is not the digest of the plan it carries: the shard was changed after the gate wrote it", path.display())]
    NotItsPlan { path: PathBuf },
    #[error("{} and {} are not of one run: {field} is {value} in the first, {other_value} in the second", first.display(), other.display())]
    #[diagnostic(help(
        "merge the shards of one gate: the same base, head, configuration, plan, seed and number of shards"
    ))]
    Disagree { first: PathBuf, other: PathBuf, field: &'static str, value: String, other_value: String },
    #[error("{} is of another run: its {field} is {found}, this merge is of {expected}", path.display())]
    OtherRun { path: PathBuf, field: &'static str, found: String, expected: String },
    #[error("shard {index} is given twice (partition.index): {} and {}", first.display(), other.display())]
    Duplicate { index: u32, first: PathBuf, other: PathBuf },
    #[error("the report directory {} is inside the checkout {} (as {}), where a change could have committed forged reports", dir.display(), root.display(), resolved.display())]
    #[diagnostic(help(
        "write the reports outside the repository's work tree, e.g. --report \"$RUNNER_TEMP/faultline-report\""
    ))]
    InsideCheckout { dir: PathBuf, resolved: PathBuf, root: PathBuf },
    #[error("no reports to merge")]
    Nothing,
    #[error("cannot create the report directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write into the report directory {}: {source}", path.display())]
    NotWritable { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot serialise the verdict: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// The largest `verdict.json` read back: far beyond any real report, small enough that a
/// hostile file cannot exhaust memory.
const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads `verdict.json` from a report directory (or the file itself). Only a regular file of
/// at most [`MAX_REPORT_BYTES`] is read: a FIFO or a device would hang or fill memory.
pub fn read(path: &Path) -> Result<(PathBuf, GateReport), ReportError> {
    let file = if path.is_dir() { path.join("verdict.json") } else { path.to_path_buf() };
    let meta = std::fs::metadata(&file).map_err(|source| ReportError::Read { path: file.clone(), source })?;
    if !meta.is_file() {
        return Err(ReportError::Foreign { path: file, reason: "not a regular file".into() });
    }
    if meta.len() > MAX_REPORT_BYTES {
        return Err(ReportError::Foreign {
            path: file,
            reason: format!("{} bytes, more than any verdict faultline writes", meta.len()),
        });
    }
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        let f = std::fs::File::open(&file).map_err(|source| ReportError::Read { path: file.clone(), source })?;
        f.take(MAX_REPORT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ReportError::Read { path: file.clone(), source })?;
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ReportError::Foreign { path: file.clone(), reason: format!("not JSON ({e})") })?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(1) => {}
        Some(n) => {
            return Err(ReportError::Foreign {
                path: file,
                reason: format!("version {n}; this faultline reads version 1"),
            });
        }
        None => return Err(ReportError::Foreign { path: file, reason: "no `version`".into() }),
    }
    let report: GateReport =
        serde_json::from_value(v).map_err(|e| ReportError::Foreign { path: file.clone(), reason: e.to_string() })?;
    if let Some(p) = report.partition
        && (p.count == 0 || p.index == 0 || p.index > p.count)
    {
        return Err(ReportError::Foreign {
            path: file, reason: format!("partition {p} is not K/N with 1 ≤ K ≤ N")
        });
    }
    Ok((file, report))
}

/// Why the shards do not add up to the whole gate: missing shards, planned scenarios that
/// ran in no shard or in several, scenarios that were not planned.
fn incomplete(
    plan: &crate::plan::Plan,
    scenarios: &[ScenarioOutcome],
    seen: &[(u32, PathBuf)],
    count: u32,
) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<u32> = (1..=count).filter(|i| !seen.iter().any(|(s, _)| s == i)).collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
        out.push(format!("shard {} is missing: its scenarios were not verified", list.join(", ")));
    }
    for name in &plan.scenarios {
        match scenarios.iter().filter(|s| &s.name == name).count() {
            1 => {}
            0 => out.push(format!("planned scenario {name} ran in no shard")),
            n => out.push(format!("scenario {name} ran {n} times across the shards")),
        }
    }
    for s in scenarios {
        if !plan.scenarios.contains(&s.name) {
            out.push(format!("scenario {} ran but was not planned", s.name));
        }
    }
    out
}

/// The run `report merge` is told about (`--base`, `--head`): object ids and the digest of
/// the base's configuration and scenarios every shard must carry. `None`: not checked.
#[derive(Debug, Clone, Default)]
pub struct ExpectedRun {
    pub base: Option<String>,
    pub head: Option<String>,
    pub config_digest: Option<String>,
}

/// What binds a shard to its run, field by field, as the errors name them.
fn bound_fields(r: &GateReport, run: &RunBinding) -> [(&'static str, String); 6] {
    [
        ("run.base", run.base.clone()),
        ("run.head", run.head.clone().unwrap_or_else(|| "(working tree)".into())),
        ("run.config_digest", run.config_digest.clone()),
        ("run.plan_digest", run.plan_digest.clone()),
        ("partition.count", r.partition.map_or_else(String::new, |p| p.count.to_string())),
        ("seed", r.seed.to_string()),
    ]
}

/// Checks that the shards (sorted by index) are of one run, the one `expected` names, and
/// that no index repeats; returns each shard's index.
fn check_bound(shards: &[(PathBuf, GateReport)], expected: &ExpectedRun) -> Result<Vec<(u32, PathBuf)>, ReportError> {
    let mut seen: Vec<(u32, PathBuf)> = Vec::new();
    let mut first: Option<(&PathBuf, [(&'static str, String); 6])> = None;
    for (path, r) in shards {
        let (Some(plan), Some(p)) = (&r.plan, r.partition) else {
            return Err(ReportError::NotAShard { path: path.clone() });
        };
        let run = r.run.as_ref().ok_or_else(|| ReportError::Unbound { path: path.clone() })?;
        if plan_digest(plan) != run.plan_digest {
            return Err(ReportError::NotItsPlan { path: path.clone() });
        }
        let fields = bound_fields(r, run);
        let (first_path, first_fields) = first.get_or_insert_with(|| (path, fields.clone()));
        for ((field, value), (_, other)) in first_fields.iter().zip(&fields) {
            if value != other {
                return Err(ReportError::Disagree {
                    first: (*first_path).clone(),
                    other: path.clone(),
                    field,
                    value: value.clone(),
                    other_value: other.clone(),
                });
            }
        }
        for (field, want, got) in [
            ("run.base", &expected.base, Some(&run.base)),
            ("run.head", &expected.head, run.head.as_ref()),
            ("run.config_digest", &expected.config_digest, Some(&run.config_digest)),
        ] {
            if let Some(want) = want
                && got != Some(want)
            {
                return Err(ReportError::OtherRun {
                    path: path.clone(),
                    field,
                    found: got.cloned().unwrap_or_else(|| "(none)".into()),
                    expected: want.clone(),
                });
            }
        }
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == p.index) {
            return Err(ReportError::Duplicate { index: p.index, first: other.clone(), other: path.clone() });
        }
        seen.push((p.index, path.clone()));
    }
    Ok(seen)
}

/// A shard's outcome judged again from what it observed, by the rule the gate judged it by:
/// a shard cannot call a failed check passed.
fn rejudged(mut o: ScenarioOutcome) -> ScenarioOutcome {
    o.judge();
    o
}

/// One report from the shards' reports: the verdict the unsharded gate would give. The
/// shards must be of one run ([`check_bound`]); every planned scenario must have run exactly
/// once; statuses are judged again from steps and checks ([`ScenarioOutcome::judge`]); a
/// shard's own block or could-not-verify is kept; the sign-off is judged from `given`, the
/// approvals the merge read itself (what shards recorded is not counted). The order of
/// `shards` does not matter.
pub fn merge(
    mut shards: Vec<(PathBuf, GateReport)>,
    given: &verdict::GivenApprovals,
    expected: &ExpectedRun,
) -> Result<GateReport, ReportError> {
    if shards.is_empty() {
        return Err(ReportError::Nothing);
    }
    for (path, r) in &shards {
        if r.plan.is_none() {
            return Err(ReportError::NoPlan { path: path.clone(), reason: r.reasons.join("; ") });
        }
        if r.partition.is_none() {
            return Err(ReportError::NotAShard { path: path.clone() });
        }
    }
    shards.sort_by_key(|(p, r)| (r.partition.map(|p| p.index), p.clone()));
    let seen = check_bound(&shards, expected)?;
    let first = shards[0].1.clone();
    let count = first.partition.map_or(0, |p| p.count);
    let plan = first.plan.clone().expect("checked above");
    let mut scenarios: Vec<ScenarioOutcome> =
        shards.iter().flat_map(|(_, r)| r.scenarios.iter().cloned().map(rejudged)).collect();
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));

    let signoff = verdict::signoff(&plan, given);
    let (mut decision, mut reasons) = verdict::decide(&scenarios, Some(&signoff));
    let mut unverified = incomplete(&plan, &scenarios, &seen, count);
    // A shard's own verdict stands: a block or a could-not-verify is never merged away.
    for (path, r) in &shards {
        match r.decision {
            Decision::Unverified => {
                unverified.push(format!("{}: could not verify: {}", path.display(), r.reasons.join("; ")))
            }
            Decision::Block if decision == Decision::Allow => {
                decision = Decision::Block;
                reasons.push(format!("{}: blocked: {}", path.display(), r.reasons.join("; ")));
            }
            _ => {}
        }
    }
    let mut exploration = merged_exploration(&shards, &plan, &mut unverified);
    // Accepted differences, from what the merge was given (a shard's marks are not taken).
    reasons.extend(verdict::accept::apply(&mut exploration, &given.accepts, Some(&signoff)));
    let unexercised = plan.gate.as_ref().map(|g| g.unexercised).unwrap_or_default();
    let (d, r) = verdict::with_exploration(decision, reasons, &exploration, unexercised);
    (decision, reasons) = (d, r);
    if !unverified.is_empty() {
        decision = Decision::Unverified;
        unverified.append(&mut reasons);
        reasons = unverified;
    }
    let sum = |f: fn(&GateTimings) -> f64| shards.iter().map(|(_, r)| f(&r.timings)).sum::<f64>();
    let max = |f: fn(&GateTimings) -> f64| shards.iter().map(|(_, r)| f(&r.timings)).fold(0.0, f64::max);
    let timings = GateTimings {
        plan_seconds: max(|t| t.plan_seconds),
        build_seconds: sum(|t| t.build_seconds),
        images_seconds: sum(|t| t.images_seconds),
        scenarios_seconds: max(|t| t.scenarios_seconds),
        stacks_seconds: sum(|t| t.stacks_seconds),
        runs_seconds: sum(|t| t.runs_seconds),
        teardown_seconds: sum(|t| t.teardown_seconds),
        total_seconds: max(|t| t.total_seconds),
        explore_seconds: max(|t| t.explore_seconds),
        stacks: shards.iter().fold(Default::default(), |a: PoolCounts, (_, r)| {
            let b = &r.timings.stacks;
            PoolCounts {
                started: a.started + b.started,
                reused: a.reused + b.reused,
                discarded: a.discarded + b.discarded,
                reset_seconds: a.reset_seconds + b.reset_seconds,
            }
        }),
    };
    Ok(GateReport {
        version: 1,
        decision,
        reasons,
        seed: first.seed,
        plan: Some(plan),
        signoff: Some(signoff),
        scenarios,
        timings,
        partition: None,
        run: first.run.clone(),
        prepare: shards.iter().flat_map(|(_, r)| r.prepare.iter().cloned()).collect(),
        exploration,
    })
}

/// The shards' explorations, each experiment's status judged again like a scenario's (a shard
/// cannot call a failed check passed); each service the plan explores must come from
/// exactly one shard (the one that holds its share), and no other.
fn merged_exploration(
    shards: &[(PathBuf, GateReport)],
    plan: &crate::plan::Plan,
    unverified: &mut Vec<String>,
) -> Vec<ExploreReport> {
    let mut exploration: Vec<_> = shards.iter().flat_map(|(_, r)| r.exploration.iter().cloned()).collect();
    for x in &mut exploration {
        for r in &mut x.ran {
            r.outcome = rejudged(r.outcome.clone());
        }
    }
    for service in &plan.explore {
        match exploration.iter().filter(|x| x.service == *service).count() {
            1 => {}
            0 => unverified.push(format!("the exploration of {service} is in no shard")),
            n => unverified.push(format!("the exploration of {service} is in {n} shards")),
        }
    }
    if let Some(x) = exploration.iter().find(|x| !plan.explore.contains(&x.service)) {
        unverified.push(format!("a shard explored {}, which the plan does not explore", x.service));
    }
    exploration
}
