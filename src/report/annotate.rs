//! GitHub workflow commands (`::error file=…,line=…::…`), made from [`Event`]s as they come:
//! the scenario line of each failed check or step as soon as its scenario ends, then, when
//! the gate ends, the changed files that brought the failed scenarios' services into the
//! gate; at most 10 of each kind. `report merge` replays the merged report through the same
//! listener, so a sharded gate annotates as an unsharded one does.

use std::sync::Mutex;

use crate::impact::Reason;
use crate::outcome::{GateReport, ScenarioOutcome, Status};
use crate::plan::Plan;
use crate::runner::event::{Event, Reporter};

/// At most this many annotations of each kind (GitHub shows 10 per step and kind).
const MAX_EACH: usize = 10;

/// The listener: writes each workflow command to its sink as soon as it is known.
pub struct Annotations<'s> {
    sink: &'s (dyn Fn(&str) + Sync),
    seen: Mutex<Seen>,
}

/// What the listener has seen so far.
#[derive(Default)]
struct Seen {
    plan: Option<Plan>,
    errors: usize,
    /// Edges exploration did not exercise, annotated so far.
    unexercised: usize,
    /// Failed scenarios: (name, target, services it observed).
    failed: Vec<(String, String, Vec<String>)>,
}

impl<'s> Annotations<'s> {
    /// A listener writing to `sink` (stdout in a workflow, a list in tests).
    pub fn new(sink: &'s (dyn Fn(&str) + Sync)) -> Annotations<'s> {
        Annotations { sink, seen: Mutex::default() }
    }

    /// The events of a finished report: its plan, then each scenario as it ended.
    pub fn replay(&self, report: &GateReport) {
        if let Some(plan) = &report.plan {
            self.report(&Event::Planned(plan));
        }
        for s in &report.scenarios {
            self.report(&Event::ScenarioFinished(s));
        }
        for r in &report.exploration {
            self.report(&Event::Explored(r));
        }
    }

    /// The gate ended: the changed files behind the failed scenarios.
    pub fn finish(&self) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Some(plan) = &seen.plan else { return };
        let mut files: Vec<(String, String)> = Vec::new();
        for (name, target, services) in &seen.failed {
            let in_scenario = |svc: &str| services.iter().any(|s| s == svc) || target == svc;
            for a in plan.affected.iter().filter(|a| in_scenario(&a.service)) {
                for path in a.reasons.iter().flat_map(reason_paths) {
                    if !files.iter().any(|(f, _)| *f == path) {
                        files.push((path, format!("{name} ({}) failed", a.service)));
                    }
                }
            }
        }
        for (f, why) in files.into_iter().take(MAX_EACH) {
            (self.sink)(&format!(
                "::warning file={},title={}::{}",
                prop(&f),
                prop("faultline: this change affects a failed scenario"),
                data(&format!("scenario {why}; see the job summary"))
            ));
        }
    }

    fn failed(&self, s: &ScenarioOutcome) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // The scenario's services: every end of every edge it observed.
        let services =
            s.edges.keys().flat_map(|e| e.split("->").map(str::trim)).filter(|n| *n != "host").map(str::to_owned);
        seen.failed.push((s.name.clone(), s.target.clone(), services.collect()));
        if seen.errors >= MAX_EACH {
            return;
        }
        seen.errors += 1;
        drop(seen);
        let line = s.checks.iter().find(|c| !c.passed).map_or(1, |c| c.line.max(1));
        let (what, expected, observed) = s
            .first_failure()
            .unwrap_or_else(|| ("could not run".into(), "-".into(), s.error.clone().unwrap_or_default()));
        (self.sink)(&format!(
            "::error file={},line={line},title={}::{}",
            prop(&s.file),
            prop(&format!("faultline: {} failed", s.name)),
            data(&format!("{what}: expected {expected}, observed {observed}. Why: {}. Reproduce: {}", s.why, s.repro))
        ));
    }
}

impl Reporter for Annotations<'_> {
    fn report(&self, event: &Event<'_>) {
        match event {
            Event::Planned(plan) => {
                self.seen.lock().unwrap_or_else(|e| e.into_inner()).plan = Some((*plan).clone());
            }
            Event::ScenarioFinished(s) if s.status != Status::Passed => self.failed(s),
            Event::Explored(r) => {
                for n in &r.not_exercised {
                    let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                    if seen.unexercised >= MAX_EACH {
                        return;
                    }
                    seen.unexercised += 1;
                    drop(seen);
                    (self.sink)(&format!(
                        "::warning title={}::{}",
                        prop(&format!("faultline: edge {} not exercised", n.edge)),
                        data(&format!("exploration of {}: {}", r.service, n.why))
                    ));
                }
            }
            _ => {}
        }
    }
}

/// The changed paths a reason of the impact names.
fn reason_paths(r: &Reason) -> Vec<String> {
    match r {
        Reason::Owns { paths } => paths.iter().map(ToString::to_string).collect(),
        Reason::Global { path, .. }
        | Reason::Protected { path, .. }
        | Reason::Builds { path, .. }
        | Reason::ReadByBuild { path, .. }
        | Reason::DependsOn { path, .. } => vec![path.to_string()],
    }
}

/// A workflow command's value: `%`, CR and LF escaped.
fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property: as [`data`], and `:` and `,` too.
fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
