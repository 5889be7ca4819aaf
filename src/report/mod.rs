//! The last stage: what people and machines read: the plan, an edge's observations, scenario
//! outcomes and the verdict.

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

use crate::outcome::GateReport;

/// Checks that reports can be written into `dir` (created if needed), before a gate runs.
pub fn check_report_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the report directory {}: {e}", dir.display()))?;
    let probe = dir.join(".faultline-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("cannot write into the report directory {}: {e}", dir.display()))
}

/// Writes `verdict.json`, `junit.xml`, `summary.md` and `report.html` into `dir` (created if needed).
/// Returns the path of `verdict.json`.
pub fn write_report(dir: &Path, report: &GateReport) -> Result<PathBuf, String> {
    check_report_dir(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    for (name, text) in [
        ("verdict.json", json),
        ("junit.xml", junit::render(report)),
        ("summary.md", summary::render(report)),
        ("report.html", html::render(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir.join("verdict.json"))
}
