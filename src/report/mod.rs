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
/// change could have committed forged reports, whatever symlinks and `..` lead there: the
/// longest part of `dir` that exists is resolved by the file system, the rest by its names.
pub fn outside_checkout(dir: &Path, root: &Path) -> Result<(), ReportError> {
    let Ok(root) = root.canonicalize() else { return Ok(()) };
    let resolved = resolve(dir);
    if resolved.starts_with(&root) {
        return Err(ReportError::InsideCheckout { dir: dir.to_path_buf(), resolved, root });
    }
    Ok(())
}

/// `p` made absolute: its longest existing ancestor canonical, the components after it
/// applied by name (`..` drops the one before; none of them exists, so none is a link).
fn resolve(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let parts: Vec<Component<'_>> = abs.components().collect();
    for k in (0..=parts.len()).rev() {
        let prefix: PathBuf = parts[..k].iter().collect();
        let Ok(mut out) = prefix.canonicalize() else { continue };
        for c in &parts[k..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        return out;
    }
    abs
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
