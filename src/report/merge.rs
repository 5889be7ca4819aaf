//! `faultline report merge`: the reports of the shards of one gate (`--partition K/N`) as
//! one verdict. Shards must come from the same base and head commits and the same number of
//! shares; a missing shard makes the merged verdict "could not verify".

use std::path::{Path, PathBuf};

use crate::outcome::{Decision, ExploreReport, GateReport, GateTimings, PoolCounts, ScenarioOutcome, SignoffState};
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
    #[error("the shards are of different gates: {} is {b}, {} is {a}", first.display(), other.display())]
    Mismatch { first: PathBuf, other: PathBuf, a: String, b: String },
    #[error("shard {index} is given twice: {} and {}", first.display(), other.display())]
    Duplicate { index: u32, first: PathBuf, other: PathBuf },
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

/// The sign-off of the whole: every shard's approvals from outside the change, judged against
/// the plan's seniors and areas (a shard's own `satisfied` is not taken on trust).
fn union_signoff(shards: &[(PathBuf, GateReport)], first: &GateReport, plan: &crate::plan::Plan) -> SignoffState {
    let mut signoff = first.signoff.clone().unwrap_or(SignoffState {
        required: plan.signoff_required,
        seniors: plan.seniors.clone(),
        approvals: Vec::new(),
        satisfied: false,
        ignored: Vec::new(),
        areas: Vec::new(),
        unreadable: None,
    });
    signoff.required = plan.signoff_required;
    signoff.seniors = plan.seniors.clone();
    signoff.areas = verdict::areas_of(plan);
    signoff.unreadable = shards.iter().find_map(|(_, r)| r.signoff.as_ref()?.unreadable.clone());
    signoff.approvals.clear();
    signoff.ignored.clear();
    for (_, r) in shards {
        for a in r.signoff.iter().flat_map(|s| &s.approvals) {
            if verdict::trusted_source(&a.source) && !signoff.approvals.iter().any(|b| b.who == a.who) {
                signoff.approvals.push(a.clone());
            }
        }
        for i in r.signoff.iter().flat_map(|s| &s.ignored) {
            if !signoff.ignored.iter().any(|j| j.trailer == i.trailer && j.commit == i.commit) {
                signoff.ignored.push(i.clone());
            }
        }
    }
    signoff.recompute();
    signoff
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

/// The identity of the gate a report belongs to: base and head commits.
fn identity(r: &GateReport) -> String {
    match &r.plan {
        Some(p) => format!(
            "base {} head {}",
            &p.base.commit[..p.base.commit.len().min(12)],
            p.head.as_ref().map_or("(working tree)".into(), |h| h.commit[..h.commit.len().min(12)].to_owned())
        ),
        None => "(no plan)".into(),
    }
}

/// A shard's outcome judged again from what it observed, by the rule the gate judged it by:
/// a shard cannot call a failed check passed.
fn rejudged(mut o: ScenarioOutcome) -> ScenarioOutcome {
    o.judge();
    o
}

/// One report from the shards' reports: the verdict the unsharded gate would give. Every
/// shard must carry the same plan; every planned scenario must have run exactly once;
/// statuses are judged again from steps and checks ([`ScenarioOutcome::judge`]); a shard's own block or could-not-verify is
/// kept; sign-off is judged from the approvals of every shard. The order of `shards` does not
/// matter.
pub fn merge(mut shards: Vec<(PathBuf, GateReport)>) -> Result<GateReport, ReportError> {
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
    let (first_path, first) = shards[0].clone();
    let count = first.partition.map_or(0, |p| p.count);
    let plan_of = |r: &GateReport| serde_json::to_value(&r.plan).unwrap_or_default();
    let first_plan = plan_of(&first);
    let mut seen: Vec<(u32, PathBuf)> = Vec::new();
    for (path, r) in &shards {
        let p = r.partition.ok_or_else(|| ReportError::NotAShard { path: path.clone() })?;
        let (a, b) = (identity(r), identity(&first));
        if a != b || p.count != count || r.seed != first.seed {
            return Err(ReportError::Mismatch {
                first: first_path.clone(),
                other: path.clone(),
                a: format!("{a}, shard {p}, seed {}", r.seed),
                b: format!("{b}, of {count} shards, seed {}", first.seed),
            });
        }
        if plan_of(r) != first_plan {
            return Err(ReportError::Mismatch {
                first: first_path.clone(),
                other: path.clone(),
                a: "a different plan (changed paths, tier, policy or selected scenarios differ)".into(),
                b: "its own plan".into(),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == p.index) {
            return Err(ReportError::Duplicate { index: p.index, first: other.clone(), other: path.clone() });
        }
        seen.push((p.index, path.clone()));
    }
    let plan = first.plan.clone().expect("checked above");
    let mut scenarios: Vec<ScenarioOutcome> =
        shards.iter().flat_map(|(_, r)| r.scenarios.iter().cloned().map(rejudged)).collect();
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));

    let signoff = union_signoff(&shards, &first, &plan);
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
    let exploration = merged_exploration(&shards, &plan, &mut unverified);
    let (d, r) = verdict::with_exploration(decision, reasons, &exploration);
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
