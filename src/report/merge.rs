//! `faultline report merge`: the reports of the shards of one gate (`--partition K/N`) as
//! one verdict. Shards must come from the same base and head commits and the same number of
//! shares; a missing shard makes the merged verdict "could not verify".

use std::path::{Path, PathBuf};

use crate::gate::{GateReport, GateTimings};
use crate::verdict::{self, Decision};

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
}

/// Reads `verdict.json` from a report directory (or the file itself).
pub fn read(path: &Path) -> Result<(PathBuf, GateReport), ReportError> {
    let file = if path.is_dir() { path.join("verdict.json") } else { path.to_path_buf() };
    let bytes = std::fs::read(&file).map_err(|source| ReportError::Read { path: file.clone(), source })?;
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
    Ok((file, report))
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

/// One report from the shards' reports.
pub fn merge(shards: Vec<(PathBuf, GateReport)>) -> Result<GateReport, ReportError> {
    let Some((first_path, first)) = shards.first().cloned() else { return Err(ReportError::Nothing) };
    if first.plan.is_none() {
        return Err(ReportError::NoPlan { path: first_path, reason: first.reasons.join("; ") });
    }
    let count = first.partition.ok_or_else(|| ReportError::NotAShard { path: first_path.clone() })?.count;
    let mut seen: Vec<(u32, PathBuf)> = Vec::new();
    for (path, r) in &shards {
        let p = r.partition.ok_or_else(|| ReportError::NotAShard { path: path.clone() })?;
        let (a, b) = (identity(r), identity(&first));
        if a != b || p.count != count {
            return Err(ReportError::Mismatch {
                first: first_path.clone(),
                other: path.clone(),
                a: format!("{a}, shard {p}"),
                b: format!("{b}, of {count} shards"),
            });
        }
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == p.index) {
            return Err(ReportError::Duplicate { index: p.index, first: other.clone(), other: path.clone() });
        }
        seen.push((p.index, path.clone()));
    }
    let mut scenarios: Vec<_> = shards.iter().flat_map(|(_, r)| r.scenarios.clone()).collect();
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    let signoff = first.signoff.clone();
    let missing_signoff = signoff.as_ref().is_some_and(|s| !s.satisfied);
    let (mut decision, mut reasons) = verdict::decide(&scenarios, missing_signoff);
    let missing: Vec<u32> = (1..=count).filter(|i| !seen.iter().any(|(s, _)| s == i)).collect();
    if !missing.is_empty() {
        decision = Decision::Unverified;
        let list: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
        reasons.insert(0, format!("shard {} is missing: its scenarios were not verified", list.join(", ")));
    }
    // A shard that could not verify (a build failed, a timeout) makes the whole unverified.
    for (path, r) in &shards {
        if r.decision == Decision::Unverified && r.scenarios.iter().all(|s| s.status != verdict::Status::Error) {
            decision = Decision::Unverified;
            reasons.push(format!("{}: {}", path.display(), r.reasons.join("; ")));
        }
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
    };
    Ok(GateReport {
        version: 1,
        decision,
        reasons,
        seed: first.seed,
        plan: first.plan.clone(),
        signoff,
        scenarios,
        timings,
        partition: None,
    })
}
