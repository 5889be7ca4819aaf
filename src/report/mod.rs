//! The last stage: what people and machines read: the plan, an edge's observations, scenario
//! outcomes and the verdict.

pub mod annotate;
pub mod edge;
pub mod explore;
pub mod html;
pub mod junit;
pub mod merge;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod summary;

use std::path::{Path, PathBuf};

use merge::ReportError;

use crate::outcome::GateReport;

/// Checks that `dir` is not inside the checkout `root` (the repository's work tree), where a
/// change could have committed forged reports, whatever symlinks and `..` lead there
/// ([`crate::bounded::inside`]).
pub fn outside_checkout(dir: &Path, root: &Path) -> Result<(), ReportError> {
    match crate::bounded::inside(dir, root) {
        Some((resolved, root)) => Err(ReportError::InsideCheckout { dir: dir.to_path_buf(), resolved, root }),
        None => Ok(()),
    }
}

/// Checks that reports can be written into `dir` (created if needed), before a gate runs.
pub fn check_report_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { path: dir.to_path_buf(), source })?;
    let probe = dir.join(".faultline-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| ReportError::NotWritable { path: dir.to_path_buf(), source })
}

/// Writes `verdict.json`, `junit.xml`, `summary.md` and `report.html` into `dir` (created if needed).
/// Returns the path of `verdict.json`.
pub fn write_report(dir: &Path, report: &GateReport) -> Result<PathBuf, ReportError> {
    check_report_dir(dir)?;
    let json = serde_json::to_string_pretty(report)?;
    for (name, text) in [
        ("verdict.json", json),
        ("junit.xml", junit::render(report)),
        ("summary.md", summary::render(report)),
        ("report.html", html::render(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Write { path: path.clone(), source })?;
    }
    Ok(dir.join("verdict.json"))
}
