//! `faultline report merge`: the reports of the shards of one gate (`--partition K/N`) as
//! one verdict. Every shard is bound to its run ([`RunBinding`]: base and head object ids,
//! the digests of the configuration and of the plan) and carries its index and count; shards
//! that disagree on any of these, repeat an index, or are of another run than the one the
//! merge is told about ([`ExpectedRun`]) are refused, naming the shard and the field. A
//! missing shard makes the merged verdict "could not verify". Approvals are not taken from
//! the shards: the merge, which decides, is handed them ([`verdict::GivenApprovals`]).

use std::path::{Path, PathBuf};

use crate::outcome::{
    Decision, ExploreReport, ExploreShare, GateReport, GateTimings, PoolCounts, RunBinding, ScenarioOutcome, Split,
    plan_digest,
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
    let unexercised = plan.gate.as_ref().map(|g| g.unexercised).unwrap_or_default();
    let partial = plan.gate.as_ref().map(|g| g.partial_exploration).unwrap_or_default();
    // A shard's own verdict stands: a block or a could-not-verify is never merged away, but
    // for a block that what the merge was given lifts (a difference a senior accepted where
    // the shards, which read no approvals, could not see it).
    for (path, r) in &shards {
        match r.decision {
            Decision::Unverified => {
                unverified.push(format!("{}: could not verify: {}", path.display(), r.reasons.join("; ")))
            }
            Decision::Block if decision == Decision::Allow && !lifted(r, given, &signoff, unexercised, partial) => {
                decision = Decision::Block;
                reasons.push(format!("{}: blocked: {}", path.display(), r.reasons.join("; ")));
            }
            _ => {}
        }
    }
    let mut exploration = merged_exploration(&shards, &plan, &scenarios, &mut unverified);
    // Accepted differences, from what the merge was given (a shard's marks are not taken).
    reasons.extend(verdict::accept::apply(&mut exploration, &given.accepts, Some(&signoff)));
    reasons.extend(verdict::accept::unseen(&exploration, given.unreadable.as_deref()));
    let (d, r) = verdict::with_exploration(decision, reasons, &exploration, unexercised, partial);
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

/// Whether the shard `r`'s block is lifted by what the merge was given: its own scenarios,
/// judged again, and its own exploration, with the merge's sign-off and accepted
/// differences, allow. Anything else keeps the block.
fn lifted(
    r: &GateReport,
    given: &verdict::GivenApprovals,
    signoff: &crate::outcome::SignoffState,
    unexercised: crate::config::Unexercised,
    partial: crate::config::PartialExploration,
) -> bool {
    let scenarios: Vec<ScenarioOutcome> = r.scenarios.iter().cloned().map(rejudged).collect();
    let (decision, reasons) = verdict::decide(&scenarios, Some(signoff));
    let mut exploration = r.exploration.clone();
    verdict::accept::apply(&mut exploration, &given.accepts, Some(signoff));
    let accepted = exploration.iter().any(|x| x.ran.iter().any(|e| e.accepted.is_some()));
    let (decision, _) = verdict::with_exploration(decision, reasons, &exploration, unexercised, partial);
    accepted && decision == Decision::Allow
}

/// The shards' explorations, each experiment's status judged again like a scenario's (a shard
/// cannot call a failed check passed). Every shard explores every service the plan explores,
/// its share of the experiments ([`ExploreShare`]); the parts are combined into the
/// exploration the unsharded gate would have run ([`combine`]). An exploration a shard skipped
/// whole stands only where a scenario did not pass (which decides already, as unsharded). A
/// report without a share (one shard explored the service whole) must be the only one.
fn merged_exploration(
    shards: &[(PathBuf, GateReport)],
    plan: &crate::plan::Plan,
    scenarios: &[ScenarioOutcome],
    unverified: &mut Vec<String>,
) -> Vec<ExploreReport> {
    let parts: Vec<(u32, &ExploreReport)> = shards
        .iter()
        .flat_map(|(_, r)| r.exploration.iter().map(move |x| (r.partition.map_or(0, |p| p.index), x)))
        .collect();
    let count = shards.first().and_then(|(_, r)| r.partition).map_or(0, |p| p.count);
    let decided = scenarios.iter().any(|s| s.status != crate::outcome::Status::Passed);
    let mut exploration = Vec::new();
    for service in &plan.explore {
        let of: Vec<(u32, &ExploreReport)> = parts.iter().filter(|(_, x)| x.service == *service).copied().collect();
        if let Some((_, x)) = of.iter().find(|(_, x)| x.skipped.iter().any(|(n, _)| n == "*")) {
            if !decided {
                unverified.push(format!(
                    "a shard skipped the exploration of {service} as decided by a scenario, but every scenario passed"
                ));
            }
            exploration.push((*x).clone());
            continue;
        }
        if of.iter().all(|(_, x)| x.share.is_none()) {
            match of.len() {
                1 => exploration.push(of[0].1.clone()),
                0 => unverified.push(format!("the exploration of {service} is in no shard")),
                n => unverified.push(format!("the exploration of {service} is in {n} shards")),
            }
            continue;
        }
        match combine(service, &of, count) {
            Ok(x) => exploration.push(x),
            Err(e) => unverified.push(e.to_string()),
        }
    }
    if let Some((_, x)) = parts.iter().find(|(_, x)| !plan.explore.contains(&x.service)) {
        unverified.push(format!("a shard explored {}, which the plan does not explore", x.service));
    }
    for x in &mut exploration {
        for r in &mut x.ran {
            r.outcome = rejudged(r.outcome.clone());
        }
    }
    exploration
}

/// Why a service's parts from the shards do not add up (a reason of the merged verdict).
#[derive(Debug, thiserror::Error)]
#[error("the exploration of {service} cannot be combined from its shards: {why}")]
struct Uncombined {
    service: String,
    why: String,
}

/// One service's exploration from its shards' parts (`(shard index, part)`), as the unsharded
/// gate would have run it, or why the parts do not add up: a shard's part missing or given
/// twice, shards whose reference runs gave different catalogues, an experiment run by a
/// shard whose share it is not, or one of the catalogue that no shard accounts for.
fn combine(service: &str, parts: &[(u32, &ExploreReport)], count: u32) -> Result<ExploreReport, Uncombined> {
    let no = |why: String| Uncombined { service: service.to_owned(), why };
    let mut by_shard: Vec<(u32, &ExploreReport, &ExploreShare)> = Vec::new();
    for (i, x) in parts {
        let share =
            x.share.as_ref().ok_or_else(|| no(format!("shard {i}/{count} explored it whole, others by experiment")))?;
        if share.partition.index != *i || share.partition.count != count {
            return Err(no(format!("shard {i}/{count} carries the part of {}", share.partition)));
        }
        if by_shard.iter().any(|(j, ..)| j == i) {
            return Err(no(format!("shard {i}/{count} gives it twice")));
        }
        by_shard.push((*i, x, share));
    }
    by_shard.sort_by_key(|(i, ..)| *i);
    if let Some(k) = (1..=count).find(|k| !by_shard.iter().any(|(i, ..)| i == k)) {
        return Err(no(format!("the part of shard {k}/{count} is missing")));
    }
    let (_, first, share) = by_shard[0];
    for (i, _, other) in &by_shard[1..] {
        if other.catalogue != share.catalogue || other.split != share.split {
            return Err(no(format!(
                "shard {i}/{count}'s reference run gave other experiments than shard 1/{count}'s ({} against {})",
                other.catalogue.len(),
                share.catalogue.len()
            )));
        }
    }
    if let Split::Whole { shard } = share.split {
        let (_, owner, _) = by_shard
            .iter()
            .find(|(i, ..)| *i == shard)
            .ok_or_else(|| no(format!("shard {shard}/{count}, which explores it whole, is missing")))?;
        if let Some((i, ..)) =
            by_shard.iter().find(|(i, x, _)| *i != shard && (!x.ran.is_empty() || !x.unexplored.is_empty()))
        {
            return Err(no(format!("shard {i}/{count} ran experiments that shard {shard}/{count} runs whole")));
        }
        return Ok(ExploreReport { share: None, ..(*owner).clone() });
    }
    let position = |name: &str| share.catalogue.iter().position(|n| n == name).unwrap_or(usize::MAX);
    let mut merged = ExploreReport {
        share: None,
        planned: 0,
        ran: Vec::new(),
        skipped: Vec::new(),
        unexplored: Vec::new(),
        unexplored_touched: Vec::new(),
        not_exercised: Vec::new(),
        deadlines: Vec::new(),
        error: None,
        ..first.clone()
    };
    let mut accounted: Vec<&str> = Vec::new();
    for (i, x, s) in &by_shard {
        let names = x
            .ran
            .iter()
            .map(|r| r.outcome.name.as_str())
            .chain(x.skipped.iter().map(|(n, _)| n.as_str()))
            .chain(x.unexplored.iter().map(String::as_str));
        for name in names {
            if !s.partition.holds_experiment(name) || position(name) == usize::MAX {
                return Err(no(format!("shard {i}/{count} ran {name}, which is not of its share")));
            }
            accounted.push(name);
        }
        if let (Some(e), None) = (&x.error, &merged.error) {
            merged.error = Some(format!("shard {i}/{count}: {e}"));
        }
        merged.planned += x.planned;
        merged.ran.extend(x.ran.iter().cloned());
        merged.skipped.extend(x.skipped.iter().cloned());
        merged.unexplored.extend(x.unexplored.iter().cloned());
        merged.unexplored_touched.extend(x.unexplored_touched.iter().cloned());
        merged.not_exercised.extend(x.not_exercised.iter().cloned());
        // Each shard found the deadlines of the edges whose `slow-past-deadline` it ran.
        for d in &x.deadlines {
            if !merged.deadlines.contains(d) {
                merged.deadlines.push(d.clone());
            }
        }
        merged.seconds = merged.seconds.max(x.seconds);
    }
    if merged.error.is_none() {
        for name in &share.catalogue {
            match accounted.iter().filter(|n| *n == name).count() {
                1 => {}
                0 => return Err(no(format!("experiment {name} is in no shard"))),
                n => return Err(no(format!("experiment {name} is in {n} shards"))),
            }
        }
    }
    merged.ran.sort_by_key(|r| position(&r.outcome.name));
    merged.skipped.sort_by_key(|(n, _)| position(n));
    merged.unexplored.sort_by_key(|n| position(n));
    merged.unexplored_touched.sort_by_key(|n| position(n));
    merged.not_exercised.dedup();
    let edge = |e: &str| first.edges.iter().position(|x| x == e).unwrap_or(usize::MAX);
    merged.deadlines.sort_by_key(|d| edge(&d.edge));
    Ok(merged)
}
