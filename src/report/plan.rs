//! `faultline plan` as text for people.

use std::fmt::Write;

use crate::plan::Plan;

/// How many items a list shows before "and N more".
const SHOW: usize = 20;

/// Columns are padded to at most this many characters; a longer name just pushes its line.
const MAX_WIDTH: usize = 40;

pub(crate) use crate::change::clean;

fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

/// The plan as a person reads it in a terminal or a CI log.
pub fn render_text(plan: &Plan) -> String {
    let mut o = String::new();
    let head = match &plan.head {
        Some(h) => format!("{} ({})", h.rev, short(&h.commit)),
        None => "the working tree".to_owned(),
    };
    let _ = writeln!(
        o,
        "change     {} ({}) → {head}, merge base {}",
        plan.base.rev,
        short(&plan.base.commit),
        short(&plan.merge_base)
    );
    let _ = writeln!(o, "config     {}", plan.config);
    protected_base(&mut o, plan);
    if plan.nothing_changed() {
        let _ = writeln!(o, "\nnothing changed: no service is affected, no scenario runs.");
        return o;
    }

    let _ = writeln!(o, "\nchanged ({})", plan.changed.len());
    for c in plan.changed.iter().take(SHOW) {
        match &c.old_path {
            Some(old) => _ = writeln!(o, "  {}  {} ← {}", c.status.letter(), c.path, old),
            None => _ = writeln!(o, "  {}  {}", c.status.letter(), c.path),
        }
    }
    more(&mut o, plan.changed.len());

    provenance(&mut o, plan);
    if let Some(t) = &plan.tier_reason {
        let _ = writeln!(o, "risk tier    {} — {}", t.tier, clean(&t.describe()));
    }
    paths(&mut o, "protected", &plan.protected, "of the gate or of the build of everything (high tier, sign-off)");
    paths(
        &mut o,
        "unclaimed",
        &plan.unclaimed,
        "that no service, global, tier or protected glob claims (policy.unclaimed)",
    );

    let _ = writeln!(o, "\naffected ({})", plan.affected.len());
    let width = plan.affected.iter().map(|a| a.service.chars().count()).max().unwrap_or(0).min(MAX_WIDTH);
    for a in plan.affected.iter().take(SHOW) {
        for (i, r) in a.reasons.iter().enumerate() {
            let name = if i == 0 { clean(&a.service) } else { String::new() };
            let _ = writeln!(o, "  {name:<width$}  {}", clean(&r.describe()));
        }
    }
    more(&mut o, plan.affected.len());
    if plan.stack.is_empty() {
        let _ = writeln!(o, "stack        nothing to start");
    } else {
        let levels: Vec<String> = plan.stack_levels.iter().map(|l| l.join(" ")).collect();
        let _ = writeln!(o, "stack        {} (start order; one level at a time)", levels.join(" → "));
    }

    if let Some(g) = &plan.gate {
        let _ = writeln!(
            o,
            "\nscenarios    {} of {} ({}: scenarios {})",
            plan.scenarios.len(),
            plan.scenarios_available,
            g.source,
            g.scenarios.as_str()
        );
        let nw = plan.scenario_files.iter().map(|s| s.name.chars().count()).max().unwrap_or(0).min(MAX_WIDTH);
        let tw = plan.scenario_files.iter().map(|s| s.target.chars().count()).max().unwrap_or(0).min(MAX_WIDTH);
        for s in plan.scenario_files.iter().take(SHOW) {
            let _ = writeln!(o, "  {:<nw$}  target {:<tw$}  {}", clean(&s.name), clean(&s.target), clean(&s.file));
        }
        more(&mut o, plan.scenario_files.len());
        if g.explore {
            let what = if plan.explore.is_empty() {
                "no affected service has a workload (explore.workloads)".to_owned()
            } else {
                plan.explore.iter().take(SHOW).map(String::as_str).map(clean).collect::<Vec<_>>().join(", ")
            };
            let unexercised = match g.unexercised {
                crate::config::Unexercised::Warn => "an edge not exercised is warned about",
                crate::config::Unexercised::Unverified => "an edge not exercised is could not verify",
            };
            let _ = writeln!(o, "explore      {what} ({}; {unexercised})", g.source);
        }
        if plan.signoff_required {
            let _ = writeln!(o, "sign-off     required ({}): one of {}", g.source, plan.seniors.join(", "));
            signoff_areas(&mut o, plan);
        } else {
            let _ = writeln!(o, "sign-off     not required ({})", g.source);
        }
    }
    if let Some(c) = &plan.codeowners {
        let _ = writeln!(o, "codeowners   {} read by {}'s rules ({})", clean(&c.path), c.host.name(), c.host_from);
        for s in c.skipped.iter().take(SHOW) {
            let _ = writeln!(o, "  skipped {}", clean(s));
        }
        more(&mut o, c.skipped.len());
    }
    o
}

/// Who must approve which paths, when owners (`policy.owners`, CODEOWNERS) divide them.
fn signoff_areas(o: &mut String, plan: &Plan) {
    if plan.signoff_areas.iter().all(|a| a.area == "policy.seniors") {
        return;
    }
    for a in plan.signoff_areas.iter().take(SHOW) {
        let n = if a.approvals > 1 { a.approvals.to_string() } else { "one".to_owned() };
        let who = if a.seniors.is_empty() { "(nobody listed)".to_owned() } else { a.seniors.join(", ") };
        let first = a.paths.first().map_or(String::new(), |p| clean(p));
        let rest = if a.paths.len() > 1 { ", …" } else { "" };
        let _ = writeln!(o, "  {n} of {} for {} ({first}{rest})", clean(&who), clean(&a.area));
    }
    more(o, plan.signoff_areas.len());
}

/// `title    N paths what:` and the paths, when there are any.
fn paths(o: &mut String, title: &str, list: &[crate::change::RepoPath], what: &str) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(o, "{title:<12} {} path{} {what}:", list.len(), if list.len() == 1 { "" } else { "s" });
    for p in list.iter().take(SHOW) {
        let _ = writeln!(o, "  {p}");
    }
    more(o, list.len());
}

fn more(o: &mut String, total: usize) {
    if total > SHOW {
        let _ = writeln!(o, "  … and {} more (--format json lists all)", total - SHOW);
    }
}

/// The protected branch the base is on, when the gate checked it.
fn protected_base(o: &mut String, plan: &Plan) {
    if let Some(b) = &plan.base_branch {
        let at = match b.behind {
            0 => "its tip".to_owned(),
            1 => "1 commit behind its tip".to_owned(),
            n => format!("{n} commits behind its tip"),
        };
        let _ = writeln!(
            o,
            "base on    {} ({}, {at}; listed by {})",
            clean(&b.branch),
            clean(&b.reference),
            clean(&b.listed_by)
        );
    }
}

/// Whether the change is AI-assisted, which rule decided, and the evidence.
fn provenance(o: &mut String, plan: &Plan) {
    if plan.ai_assisted {
        if plan.ai_rule == crate::change::provenance::ASSUME_RULE {
            let _ = writeln!(o, "\nAI-assisted  yes ({}: every change counts as AI-assisted)", plan.ai_rule);
        } else {
            let _ = writeln!(o, "\nAI-assisted  yes");
        }
        for e in plan.ai_evidence.iter().take(SHOW) {
            let commit = e.commit.as_deref().map(short).unwrap_or("CI label");
            let kind =
                serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let _ = writeln!(o, "  {}  {kind:<7}  {}", clean(&format!("{commit:<10}")), clean(&e.value));
        }
        more(o, plan.ai_evidence.len());
    } else {
        let _ = writeln!(
            o,
            "\nAI-assisted  no ({} commit{} checked)",
            plan.commits.len(),
            if plan.commits.len() == 1 { "" } else { "s" }
        );
    }
}
