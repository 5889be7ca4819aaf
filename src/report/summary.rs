//! `summary.md` for the pull request (and `$GITHUB_STEP_SUMMARY`): the verdict and its
//! reasons, the tier, the AI evidence, the affected services, each scenario's result, the
//! sign-off state and the commands that reproduce failures; and GitHub workflow annotations
//! pointing at the scenario line of a failed check and at the changed files behind it.

use std::fmt::Write as _;

use crate::outcome::GateReport;
use crate::outcome::{Decision, Status};
use crate::verdict::SignoffLine;

/// GitHub refuses step summaries over 1 MiB; stay well below.
pub const MAX_BYTES: usize = 1 << 20;

/// Failed steps and checks listed per scenario; the rest are counted.
const MAX_FAILURES: usize = 20;

/// Text in a table cell: one line, no pipes.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn render(report: &GateReport) -> String {
    let mut o = String::new();
    let (icon, word) = match report.decision {
        Decision::Allow => ("✅", "allowed"),
        Decision::Block => ("⛔", "blocked"),
        Decision::Unverified => ("⚠️", "could not be verified (blocked)"),
    };
    let _ = writeln!(o, "## {icon} faultline: the change is {word}\n");
    for r in &report.reasons {
        let _ = writeln!(o, "- {}", cell(r.lines().next().unwrap_or(r)));
    }
    if let Some(p) = &report.plan {
        let _ = writeln!(o, "\n| | |\n|---|---|");
        let _ = writeln!(
            o,
            "| tier | {} |",
            p.tier.map_or("none".into(), |t| match &p.tier_reason {
                Some(r) => format!("**{t}** ({})", cell(&r.describe())),
                None => format!("**{t}**"),
            })
        );
        let ai = if p.ai_assisted {
            let ev: Vec<String> = p.ai_evidence.iter().take(3).map(|e| format!("`{}`", cell(&e.value))).collect();
            format!("yes: {}", ev.join(", "))
        } else {
            "no".into()
        };
        let _ = writeln!(o, "| AI-assisted | {ai} |");
        let affected: Vec<String> = p.affected.iter().map(|a| format!("`{}`", a.service)).collect();
        let _ = writeln!(o, "| affected | {} |", if affected.is_empty() { "none".into() } else { affected.join(", ") });
        let _ = writeln!(o, "| changed paths | {} |", p.changed.len());
        let _ = writeln!(o, "| seed | {} |", report.seed);
    }
    if let Some(s) = &report.signoff {
        let state = match s.line() {
            // A shard records what it was handed; `report merge` judges the sign-off.
            SignoffLine::Missing(_) | SignoffLine::Given(_) if report.partition.is_some() => {
                "judged by `faultline report merge`".to_owned()
            }
            SignoffLine::NotRequired => "not required".to_owned(),
            SignoffLine::Given(by) => format!("given by {}", cell(&by)),
            SignoffLine::Missing(who) => format!("**missing**: {}", cell(&who)),
        };
        let _ = writeln!(o, "| sign-off | {state} |");
    }
    if !report.scenarios.is_empty() {
        let _ = writeln!(o, "\n### Scenarios\n\n| scenario | target | result | time |\n|---|---|---|---|");
        for s in &report.scenarios {
            let result = match s.status {
                Status::Passed => "✅ passed".to_owned(),
                Status::Failed => "⛔ failed".to_owned(),
                Status::Error => "⚠️ could not run".to_owned(),
            };
            let _ = writeln!(
                o,
                "| `{}` | `{}` | {result} | {:.1} s |",
                s.name,
                s.target,
                s.stack_seconds + s.run_seconds + s.teardown_seconds
            );
        }
        for s in report.scenarios.iter().filter(|s| s.status != Status::Passed) {
            let _ = writeln!(o, "\n#### `{}` ({})\n\n> {}\n", s.name, s.file, cell(&s.why));
            if let Some(e) = &s.error {
                let _ = writeln!(o, "Could not run: {}\n", cell(e));
            }
            // Every failed step and check: a reviewer sees the whole damage, not the first.
            let failures: Vec<_> = s.failures().collect();
            for (what, expected, observed) in failures.iter().take(MAX_FAILURES) {
                let _ = writeln!(
                    o,
                    "- **{}**\n  - expected: {}\n  - observed: {}",
                    cell(what),
                    cell(expected),
                    cell(observed)
                );
            }
            if failures.len() > MAX_FAILURES {
                let _ = writeln!(o, "- … and {} more (report.html has them all)", failures.len() - MAX_FAILURES);
            }
            let _ = writeln!(o, "\nReproduce:\n\n```sh\n{}\n```", s.repro);
        }
    }
    let unexercised: Vec<String> = report
        .exploration
        .iter()
        .flat_map(|x| x.not_exercised.iter().map(move |n| (x, n)))
        .map(|(x, n)| format!("- `{}` (exploration of `{}`): {}", cell(&n.edge), cell(&x.service), cell(&n.why)))
        .collect();
    if !unexercised.is_empty() {
        let _ = writeln!(o, "\n### ⚠️ Edges exploration did not exercise\n\n{}", unexercised.join("\n"));
    }
    if o.len() > MAX_BYTES {
        let mut cut = MAX_BYTES - 100;
        while !o.is_char_boundary(cut) {
            cut -= 1;
        }
        o.truncate(cut);
        o.push_str("\n\n… (cut at 1 MiB; verdict.json has everything)\n");
    }
    o
}

/// GitHub workflow commands (`::error file=…,line=…::…`) of a finished report: the report
/// replayed, as events, through [`super::annotate::Annotations`] (what the gate prints while
/// it runs).
pub fn annotations(report: &GateReport) -> Vec<String> {
    let lines = std::sync::Mutex::new(Vec::new());
    let sink = |l: &str| lines.lock().unwrap_or_else(|e| e.into_inner()).push(l.to_owned());
    let notes = super::annotate::Annotations::new(&sink);
    notes.replay(report);
    notes.finish();
    lines.into_inner().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_not_exercised_is_warned_in_every_report() {
        let v = serde_json::json!({
            "version": 1, "decision": "allow", "reasons": [], "seed": 1, "plan": null, "signoff": null,
            "scenarios": [],
            "timings": {"plan_seconds": 0.0, "build_seconds": 0.0, "images_seconds": 0.0, "scenarios_seconds": 0.0,
                        "stacks_seconds": 0.0, "runs_seconds": 0.0, "teardown_seconds": 0.0, "total_seconds": 0.0},
            "exploration": [{"service": "api", "seed": 1, "edges": ["api -> db"], "planned": 0, "ran": [],
                             "skipped": [], "unexplored": [], "seconds": 0.0, "reference_passes": 4,
                             "not_exercised": [{"edge": "api -> <cache>", "why": "no traffic in 4 passes"}]}]
        });
        let report: GateReport = serde_json::from_value(v).expect("a report");
        let md = render(&report);
        assert!(md.contains("Edges exploration did not exercise") && md.contains("`api -> <cache>`"), "{md}");
        let html = crate::report::html::render(&report);
        assert!(
            html.contains("edges exploration did not exercise") && html.contains("api -&gt; &lt;cache&gt;"),
            "{html}"
        );
        let notes = annotations(&report);
        assert!(notes.iter().any(|n| n.starts_with("::warning title=") && n.contains("not exercised")), "{notes:?}");
        let text = crate::report::explore::render(&report.exploration[0]);
        assert!(text.contains("warning: edge api -> <cache> not exercised: no traffic in 4 passes"), "{text}");
        assert!(text.contains("the reference took 4 passes"), "{text}");
    }
}
