//! Exploration's results for people: a summary per service, each failed experiment like a
//! failed scenario (what, expected, observed, how to run it again), and the scenario files
//! `--write` proposes.

use std::fmt::Write as _;
use std::path::Path;

use crate::outcome::Status;
use crate::outcome::{ClientDeadline, ExploreReport};

/// The summary of one service's exploration.
pub fn render(r: &ExploreReport) -> String {
    let mut s = String::new();
    if let Some(e) = &r.error {
        let _ = writeln!(s, "explore {}: could not explore: {e}", r.service);
        return s;
    }
    let failed = r.failed().count();
    let errors = r.errors().count();
    let weak = r.known_weaknesses().count();
    let accepted = r.accepted().count();
    let compared = r.ran.iter().filter(|x| x.compared.is_some()).count();
    let _ = writeln!(
        s,
        "explore {}: {} experiments planned on {} (seed {}), {} ran in {:.0} s: {} passed, {failed} failed, {errors} could not run{}; {} skipped by reduction, {} unexplored (budget){}",
        r.service,
        r.planned,
        if r.edges.is_empty() { "no edge".to_owned() } else { r.edges.join(", ") },
        r.seed,
        r.ran.len(),
        r.seconds,
        r.ran.len() - failed - errors - weak - accepted,
        if weak > 0 { format!(", {weak} known weaknesses the base shares") } else { String::new() }
            + &if accepted > 0 { format!(", {accepted} accepted differences") } else { String::new() },
        r.skipped.len(),
        r.unexplored.len(),
        if compared > 0 { format!("; {compared} compared with the base revision") } else { String::new() },
    );
    if r.reference_passes > 1 {
        let _ = writeln!(s, "  the reference took {} passes of the workload", r.reference_passes);
    }
    for d in &r.deadlines {
        let _ = writeln!(s, "  deadline: {}", deadline(d));
    }
    for x in r.ran.iter().filter(|x| x.outage.is_some()) {
        let status = match x.outcome.status {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "could not run",
        };
        let _ = writeln!(s, "  sustained outage: {}: {status}", x.what());
    }
    for n in &r.not_exercised {
        let _ = writeln!(s, "  warning: edge {} not exercised: {}", n.edge, n.why);
    }
    for x in r.ran.iter().filter(|x| x.outcome.status != Status::Passed) {
        let weakness = if x.known_weakness() { " — a known weakness: the base fails it too" } else { "" };
        let difference = match (&x.difference, &x.accepted) {
            (Some(id), Some(a)) => format!(" — difference {id}, accepted by {} ({})", a.by, a.source),
            (Some(id), None) => {
                format!(" — difference {id} (`faultline accept {id}` in a senior's review or GitLab note accepts it)")
            }
            _ => String::new(),
        };
        let _ = writeln!(s, "  {}{weakness}{difference}", x.what());
        for line in super::outcome::render_outcome(&x.outcome).lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    if !r.unexplored.is_empty() {
        let _ = writeln!(s, "  unexplored: {}", r.unexplored.join(", "));
    }
    s
}

/// A client's own deadline on its edge, in a sentence: "orders gives payments 2.0 s, then
/// retries twice".
/// "orders gives payments 2.0 s (the base revision gave it 1.0 s, whose magnitudes are
/// explored)" where the base's client differs ([`ClientDeadline::base`]).
pub fn deadline(d: &ClientDeadline) -> String {
    let (client, dependency) = d.ends();
    let retries = match d.attempts.saturating_sub(1) {
        0 => "and does not retry".to_owned(),
        1 => "then retries once".to_owned(),
        2 => "then retries twice".to_owned(),
        n => format!("then retries {n} times"),
    };
    let said = match d.deadline_ms {
        Some(ms) => format!("{client} gives {dependency} {}, {retries}", duration(ms)),
        None => format!(
            "{client} waits for {dependency} as long as the workload's deadline and more (held {}, it never gave up), {retries}",
            duration(d.held_ms)
        ),
    };
    let Some(base) = &d.base else {
        return if d.on_base { format!("{said} (as the base revision showed it)") } else { said };
    };
    let retried = match base.attempts.saturating_sub(1) {
        _ if base.attempts == d.attempts => String::new(),
        0 => ", and did not retry".to_owned(),
        1 => ", then retried once".to_owned(),
        2 => ", then retried twice".to_owned(),
        n => format!(", then retried {n} times"),
    };
    let gave = match (base.deadline_ms, d.deadline_ms) {
        (Some(b), Some(_)) => format!("gave it {}{retried}: the magnitudes of both are explored", duration(b)),
        (Some(b), None) => format!("gave it {}{retried}, whose magnitudes are explored", duration(b)),
        (None, _) => format!("waited as long as the workload's deadline and more{retried}"),
    };
    format!("{said} (the base revision {gave})")
}

/// `600 ms`, `2.0 s`, `12 s`.
fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..10_000 => format!("{:.1} s", ms as f64 / 1e3),
        _ => format!("{:.0} s", ms as f64 / 1e3),
    }
}

/// Writes the scenario file of every failed experiment into `dir`, never over an existing
/// file; returns a line per file (written or left alone).
pub fn write_scenarios(reports: &[ExploreReport], dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir) {
        lines.push(format!("cannot create {}: {e}", dir.display()));
        return lines;
    }
    for x in reports.iter().flat_map(|r| r.failed()) {
        let Some(text) = &x.scenario else { continue };
        let path = dir.join(format!("{}.yaml", x.outcome.name));
        let header = format!(
            "# Found by `faultline explore --seed {}`: {}.\n# Complete `why` with what the system must guarantee here, then keep it.\n",
            x.outcome.seed,
            x.what()
        );
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        match file.and_then(|mut f| std::io::Write::write_all(&mut f, format!("{header}{text}").as_bytes())) {
            Ok(()) => lines.push(format!("wrote {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                lines.push(format!("left {} as it is (it exists)", path.display()))
            }
            Err(e) => lines.push(format!("cannot write {}: {e}", path.display())),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(edge: &str, deadline_ms: Option<u64>, attempts: u32) -> ClientDeadline {
        ClientDeadline { edge: edge.into(), deadline_ms, held_ms: 4000, attempts, on_base: false, base: None }
    }

    #[test]
    fn a_deadline_is_said_as_people_would() {
        assert_eq!(
            deadline(&found("orders -> payments", Some(2000), 3)),
            "orders gives payments 2.0 s, then retries twice"
        );
        assert_eq!(deadline(&found("api -> db", Some(600), 1)), "api gives db 600 ms, and does not retry");
        assert_eq!(deadline(&found("api -> db", Some(12_000), 2)), "api gives db 12 s, then retries once");
        assert_eq!(deadline(&found("api -> db", Some(1500), 5)), "api gives db 1.5 s, then retries 4 times");
        let never = deadline(&found("api -> db", None, 1));
        assert!(
            never.starts_with("api waits for db as long as the workload's deadline") && never.contains("held 4.0 s"),
            "{never}"
        );
        // The base's client gave another deadline: said beside the change's.
        let base = |deadline_ms, attempts| Some(crate::outcome::BaseDeadline { deadline_ms, attempts });
        let shorter = ClientDeadline { base: base(Some(1000), 1), ..found("api -> db", Some(300), 1) };
        assert_eq!(
            deadline(&shorter),
            "api gives db 300 ms, and does not retry (the base revision gave it 1.0 s: the magnitudes of both are explored)"
        );
        let none = ClientDeadline { base: base(Some(1000), 3), ..found("api -> db", None, 1) };
        assert!(
            deadline(&none).ends_with(
                "it never gave up), and does not retry (the base revision gave it 1.0 s, then retried twice, whose magnitudes are explored)"
            ),
            "{}",
            deadline(&none)
        );
        let added = ClientDeadline { base: base(None, 1), ..found("api -> db", Some(600), 1) };
        assert_eq!(
            deadline(&added),
            "api gives db 600 ms, and does not retry (the base revision waited as long as the workload's deadline and more)"
        );
        let mut r = ExploreReport { service: "api".into(), ..Default::default() };
        r.deadlines = vec![found("api -> db", Some(600), 1)];
        assert!(render(&r).contains("\n  deadline: api gives db 600 ms, and does not retry\n"), "{}", render(&r));
    }
}
