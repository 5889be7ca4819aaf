//! The fault timeline of a scenario: each fault applied at its time (or before the first
//! step) and undone after its duration or when the steps end, its window recorded, and each
//! change told to the run's listener.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::RunError;
use super::event::{Event, Reporter};
use crate::outcome::FaultWindow;
use crate::scenario::validate::{FaultTarget, Scenario, TimedFault};
use crate::stack::Stack;

/// A fault of the timeline applied or undone, `at_ms` on the steps' clock.
pub(super) struct FaultChange {
    pub(super) index: usize,
    pub(super) applied: bool,
    pub(super) at_ms: f64,
}

pub(super) fn report_fault(events: &dyn Reporter, scenario: &Scenario, change: FaultChange) {
    let Some(f) = scenario.faults.iter().find(|f| f.index == change.index) else { return };
    let fault = fault_name(f);
    events.report(&if change.applied {
        Event::FaultApplied { scenario: &scenario.name, fault: &fault, on: &f.on, what: &f.what, at_ms: change.at_ms }
    } else {
        Event::FaultUndone { scenario: &scenario.name, fault: &fault, on: &f.on, at_ms: change.at_ms }
    });
}

/// (start, end) in ms of each fault, by its index in the file.
pub(super) type Windows = Arc<std::sync::Mutex<BTreeMap<usize, (f64, f64)>>>;

/// One fault on the timeline: applied at `at` (unless already in place), undone after `for`
/// or when the steps end (`stop`); its window recorded.
pub(super) async fn fault_on_timeline(
    f: TimedFault,
    stack: Arc<Mutex<Stack>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    clock: Instant,
    timeout: Duration,
    windows: Windows,
    changes: tokio::sync::mpsc::UnboundedSender<FaultChange>,
) -> Result<(), RunError> {
    let ms = || clock.elapsed().as_secs_f64() * 1e3;
    let record = |start: Option<f64>, end: Option<f64>| {
        let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
        let e = w.entry(f.index).or_insert((0.0, 0.0));
        if let Some(s) = start {
            e.0 = s;
        }
        if let Some(x) = end {
            e.1 = x;
        }
    };
    if f.at.is_zero() {
        record(Some(0.0), None);
    } else {
        tokio::select! {
            _ = tokio::time::sleep_until((clock + f.at).into()) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        apply(&stack, &f, timeout).await?;
        let at_ms = ms();
        record(Some(at_ms), None);
        let _ = changes.send(FaultChange { index: f.index, applied: true, at_ms });
    }
    match f.duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        None => {
            let _ = stop.wait_for(|s| *s).await;
        }
    }
    let ended = ms();
    let r = undo(&stack, &f, timeout).await;
    record(None, Some(ended));
    if r.is_ok() {
        let _ = changes.send(FaultChange { index: f.index, applied: false, at_ms: ended });
    }
    r
}

/// The faults as they happened.
pub(super) fn fault_windows(scenario: &Scenario, windows: &Windows) -> Vec<FaultWindow> {
    let w = windows.lock().unwrap_or_else(|e| e.into_inner());
    scenario
        .faults
        .iter()
        .filter_map(|f| {
            let (start_ms, end_ms) = *w.get(&f.index)?;
            Some(FaultWindow { name: fault_name(f), on: f.on.clone(), what: f.what.clone(), start_ms, end_ms })
        })
        .collect()
}

fn fault_name(f: &TimedFault) -> String {
    format!("faults[{}]", f.index)
}

pub(super) async fn apply(stack: &Mutex<Stack>, f: &TimedFault, timeout: Duration) -> Result<(), RunError> {
    let mut stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault starts");
    match &f.target {
        FaultTarget::Edge { from, to, fault } => match stack.edge(from, to) {
            Some(p) => Ok(p.add(&fault_name(f), (**fault).clone())?),
            None => Err(RunError::NoEdge { from: from.clone(), to: to.clone() }),
        },
        FaultTarget::Container { service, fault } => Ok(stack.container(service, fault.apply(), timeout).await?),
    }
}

async fn undo(stack: &Mutex<Stack>, f: &TimedFault, timeout: Duration) -> Result<(), RunError> {
    let mut stack = stack.lock().await;
    tracing::debug!(fault = %fault_name(f), on = %f.on, "fault ends");
    match &f.target {
        FaultTarget::Edge { from, to, .. } => {
            if let Some(p) = stack.edge(from, to) {
                p.remove(&fault_name(f));
            }
            Ok(())
        }
        FaultTarget::Container { service, fault } => Ok(stack.container(service, fault.undo(), timeout).await?),
    }
}
