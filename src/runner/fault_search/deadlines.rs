//! Each client's own deadline on each HTTP edge, found black box, and the latency
//! experiments at magnitudes of it.
//!
//! The catalogue's `slow-past-deadline`, one request at a time, holds every request of an
//! edge for the workload's deadline and 1 s. A client with a deadline of its own shorter than
//! that gives up during the hold and closes its connection, which the proxy records
//! (`RequestOutcome::ClientGone`, after how long it waited). So that one run answers what
//! growing the delay step by step until the client gives up would, in one run instead of
//! several: the time the client waited before it went away is its deadline (the median over
//! the attempts held, to two significant digits), and the requests the edge carried per
//! workload request, over those it carried without faults, are its attempts per call. A
//! client that never went away waited as long as it was held: it has no deadline shorter than
//! the workload's, whose own magnitudes (half of it, past it) the catalogue already tries.
//!
//! For a client with a deadline `D` of its own, `d` the workload's, two more experiments on
//! the edge, one request at a time ([`choose`]):
//!
//! - `slow-under-client-deadline`, held `D/2`: the client waits, so the service must answer as
//!   it did without faults (a step answered 2xx then must be answered 2xx now). The
//!   catalogue's `slow-under-deadline` (`d/2`) is past `D` whenever `D < d/2`, a common
//!   setting (a 1 s client timeout under a 5 s deadline): there nothing else tries a
//!   dependency slow within the client's patience.
//! - `slow-past-client-deadline`, held `3D/2`: every attempt gives up, and the dependency's
//!   late answers land while the workload still runs (after `d + 1 s`, in
//!   `slow-past-deadline`, they land after it): a late answer read as the next one's, work
//!   done twice by an attempt and its retry.
//!
//! Each is left out (listed as skipped, with why) when the calls of one workload request would
//! take more than 3/4 of the workload's deadline under it (`need × D/2` under, `need ×
//! attempts × D` past): the answer would race the deadline, and past it `slow-past-deadline`
//! shows that already; and when a catalogue experiment of one request at a time holds the
//! edge about as long (within 20 %), which it would repeat. Magnitudes closer to `D` (0.9,
//! 1.1) are never tried: whether the client's timer or the dependency's answer comes first
//! is then a race, which no comparison with the base can judge.

use std::time::Duration;

use super::Results;
use super::pairs::{Did, Skipped};
use crate::fault::observe::{RequestOutcome, nearest_rank};
use crate::outcome::{Answered, ClientDeadline, ExploreShare, ScenarioOutcome, Split, Status};
use crate::scenario::experiments::{
    Experiment, InvalidExperiment, Mode, SLOW_PAST_CLIENT_DEADLINE, SLOW_UNDER_CLIENT_DEADLINE, Workload,
};

/// The catalogue's class whose run shows each client's deadline.
const PAST_DEADLINE: &str = "slow-past-deadline";

/// What the deadlines found lead to: the deadlines, the experiments at their magnitudes,
/// and the magnitudes left out with why.
pub(super) type Planned = (Vec<ClientDeadline>, Vec<Experiment>, Skipped);

/// The client's deadline on each HTTP edge whose `slow-past-deadline` of one request at a
/// time ran, and the experiments at its magnitudes. None in a shard of an exploration split
/// by experiment (`share`), whose catalogue every shard must agree on: the deadlines only.
pub(super) fn plan(
    w: &Workload,
    config: &crate::config::Config,
    experiments: &[Experiment],
    results: &Results,
    reference: &Did,
    share: Option<&ExploreShare>,
) -> Result<Planned, InvalidExperiment> {
    let split = share.is_some_and(|s| s.split == Split::Experiments);
    let succeed: Vec<bool> = reference.answered.iter().map(all_ok).collect();
    let (mut found, mut out, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for e in experiments.iter().filter(|e| e.class == PAST_DEADLINE && e.mode == Mode::Sequential && e.with.is_none()) {
        let Some((o, compared)) =
            results.get(&e.name).and_then(|(_, o)| o.as_ref()).filter(|(o, _)| o.status != Status::Error)
        else {
            continue;
        };
        let base = compared.as_ref().map(|c| &c.base).filter(|b| b.status != Status::Error);
        let Some(edge) = reference.used.iter().find(|u| u.name() == e.on && u.http) else { continue };
        let held = e.faults.first().and_then(|f| f.pointer("/http/delay")?.as_str());
        let Some(held) = held.and_then(|h| humantime::parse_duration(h).ok()) else { continue };
        let need = reference.per_request.get(&e.on).map_or(1, |(n, _)| (*n).max(1));
        // A service that answers before its client gives up (a deadline of its own, shorter)
        // leaves the change's run with no held request seen to its end: the base's shows it.
        let on_base = || discover(base?, &e.on, &w.service, need, held).map(|d| ClientDeadline { on_base: true, ..d });
        let Some(d) = discover(o, &e.on, &w.service, need, held).or_else(on_base) else { continue };
        let magnitudes = match d.deadline_ms {
            Some(ms) if !split => choose(Duration::from_millis(ms), d.attempts, need, w.deadline),
            _ => Vec::new(),
        };
        found.push(d);
        for (class, delay, left_out) in magnitudes.into_iter().filter(|(class, _, _)| w.runs(class)) {
            // Under the client's deadline the answers must be the fault-free ones; past it, what
            // the workload accepts.
            let must: &[bool] = if class == SLOW_UNDER_CLIENT_DEADLINE { &succeed } else { &[] };
            let x = crate::scenario::experiments::magnitude(w, config, edge, class, delay, must)?;
            match left_out {
                Some(why) => skipped.push((x.name, why)),
                None => out.push(x),
            }
        }
    }
    Ok((found, out, skipped))
}

/// Whether every request of a step was answered 2xx in time.
fn all_ok(a: &Answered) -> bool {
    a.ok > 0 && a.rejected + a.failed + a.late + a.none == 0
}

/// The client's deadline on `edge` from a run that held each of its requests for `held`, one
/// workload request to `service` at a time, the edge carrying `need` requests per workload
/// request without faults; `None` when the run held none of its requests.
pub(crate) fn discover(
    o: &ScenarioOutcome,
    edge: &str,
    service: &str,
    need: usize,
    held: Duration,
) -> Option<ClientDeadline> {
    let obs = o.edges.get(edge)?;
    let offset = o.edge_offsets_ms.get(edge).copied().unwrap_or(0.0);
    let holds: Vec<_> = obs.requests.iter().filter(|r| r.fault.is_some()).collect();
    if holds.is_empty() {
        return None;
    }
    let mut gone: Vec<f64> =
        holds.iter().filter(|r| r.outcome == RequestOutcome::ClientGone).map(|r| r.duration_ms).collect();
    gone.sort_by(f64::total_cmp);
    // Most attempts given up on: the client has a deadline of its own.
    let deadline_ms = (gone.len() * 2 > holds.len()).then(|| nearest_rank(&gone, 50.0).map(two_digits)).flatten();
    let mut counts: Vec<usize> = per_workload_request(o, service, holds.iter().map(|r| r.start_ms + offset))
        .into_iter()
        .filter(|n| *n > 0)
        .collect();
    counts.sort_unstable();
    let calls = nearest_rank(&counts, 50.0).unwrap_or(need);
    let attempts = u32::try_from((calls as f64 / need.max(1) as f64).round() as u64).unwrap_or(1).max(1);
    Some(ClientDeadline {
        edge: edge.to_owned(),
        deadline_ms,
        held_ms: u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
        attempts,
        on_base: false,
    })
}

/// How many of `times` (ms from the start of the steps) fell in each workload request to
/// `service`: from when it arrived until the next one did.
fn per_workload_request(o: &ScenarioOutcome, service: &str, times: impl Iterator<Item = f64>) -> Vec<usize> {
    let ingress = format!("host -> {service}");
    let Some(host) = o.edges.get(&ingress) else { return Vec::new() };
    let host_offset = o.edge_offsets_ms.get(&ingress).copied().unwrap_or(0.0);
    let mut starts: Vec<f64> = host.requests.iter().map(|r| r.start_ms + host_offset).filter(|t| *t >= 0.0).collect();
    starts.sort_by(f64::total_cmp);
    let mut counts = vec![0; starts.len()];
    for t in times {
        let i = starts.partition_point(|s| *s <= t);
        if i > 0 {
            counts[i - 1] += 1;
        }
    }
    counts
}

/// `ms` to two significant digits (603 → 600, 2013 → 2000, 45 → 45), at least 1.
pub(crate) fn two_digits(ms: f64) -> u64 {
    if ms.is_nan() || ms < 1.0 {
        return 1;
    }
    let unit = 10f64.powi((ms.log10().floor() as i32 - 1).max(0));
    ((ms / unit).round() * unit) as u64
}

/// The magnitudes of a client's deadline `deadline` to try on its edge, the client making
/// `attempts` attempts per call and `need` calls per workload request, `workload` the
/// workload's deadline: each class with its delay, and why it is left out, if it is.
pub(crate) fn choose(
    deadline: Duration,
    attempts: u32,
    need: usize,
    workload: Duration,
) -> Vec<(&'static str, Duration, Option<String>)> {
    let need = u32::try_from(need.max(1)).unwrap_or(u32::MAX);
    let budget = workload * 3 / 4;
    let catalogue = [("slow-under-deadline", workload / 2), (PAST_DEADLINE, workload + Duration::from_secs(1))];
    let s = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let why_not = |delay: Duration, spent: Duration| {
        if spent > budget {
            return Some(format!(
                "the client's calls would take {} per workload request under it, more than 3/4 of the workload's deadline ({}): the answer would race the deadline",
                s(spent),
                s(workload)
            ));
        }
        catalogue
            .iter()
            .find(|(_, d)| near(delay, *d))
            .map(|(class, d)| format!("{class} holds the edge about as long ({}) one request at a time already", s(*d)))
    };
    let under = deadline / 2;
    let past = deadline * 3 / 2;
    vec![
        (SLOW_UNDER_CLIENT_DEADLINE, under, why_not(under, under * need)),
        (SLOW_PAST_CLIENT_DEADLINE, past, why_not(past, deadline * need.saturating_mul(attempts.max(1)))),
    ]
}

/// Whether two delays are within 20 % of the longer.
fn near(a: Duration, b: Duration) -> bool {
    let (a, b) = (a.as_secs_f64(), b.as_secs_f64());
    (a - b).abs() <= 0.2 * a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One pass of `per` workload requests to `api`, 1 s apart, each followed on `api -> db`
    /// by `calls` requests held by a fault, each given up after `waited` ms (`None`: answered
    /// after the hold of 4 s).
    fn run(per: usize, calls: usize, waited: Option<f64>) -> ScenarioOutcome {
        let obs = |edge: &str, requests: Vec<serde_json::Value>| {
            serde_json::json!({ "edge": edge, "seed": 1, "elapsed_ms": 1000.0, "connections_opened": 1,
                "connections_by_outcome": {}, "bytes_upstream": 10, "bytes_downstream": 0,
                "connections": [], "requests": requests, "latency": null })
        };
        let request = |at: f64, fault: bool, gone: Option<f64>| {
            serde_json::json!({ "conn": 1, "seq": 1, "method": "GET", "path": "/call", "status": 200,
                "start_ms": at, "duration_ms": gone.unwrap_or(4000.0), "fault": fault.then_some("f"),
                "outcome": if gone.is_some() { "client_gone" } else { "answered" } })
        };
        let host = (0..per).map(|i| request(i as f64 * 1000.0, false, None)).collect();
        let db = (0..per)
            .flat_map(|i| (0..calls).map(move |k| (i, k)))
            .map(|(i, k)| request(i as f64 * 1000.0 + 5.0 + k as f64 * 300.0, true, waited))
            // The recovery check's request, after the fault: not held.
            .chain([request(per as f64 * 1000.0 + 500.0, false, None)])
            .collect();
        let v = serde_json::json!({
            "name": "x", "file": "x.yaml", "target": "api", "why": "", "seed": 1, "status": "passed", "error": null,
            "steps": [], "checks": [],
            "edges": { "host -> api": obs("host -> api", host), "api -> db": obs("api -> db", db) },
            "edge_offsets_ms": {}, "checks_ms": 800.0, "stack_seconds": 0.0, "run_seconds": 0.0,
            "teardown_seconds": 0.0, "repro": ""
        });
        serde_json::from_value(v).expect("an outcome")
    }

    #[test]
    fn the_deadline_is_how_long_the_client_waited_and_its_retries_the_calls_per_request() {
        let held = Duration::from_secs(4);
        let d = discover(&run(3, 3, Some(603.0)), "api -> db", "api", 1, held).expect("held requests");
        assert_eq!((d.deadline_ms, d.attempts, d.held_ms), (Some(600), 3, 4000), "{d:?}");
        assert_eq!(d.edge, "api -> db");
        // Two calls per workload request without faults: 6 held are 3 attempts of each.
        let d = discover(&run(3, 6, Some(2013.0)), "api -> db", "api", 2, held).unwrap();
        assert_eq!((d.deadline_ms, d.attempts), (Some(2000), 3));
        // Never gave up: no deadline of its own, one attempt.
        let d = discover(&run(3, 1, None), "api -> db", "api", 1, held).unwrap();
        assert_eq!((d.deadline_ms, d.attempts), (None, 1));
        // Nothing held, nothing to tell.
        assert_eq!(discover(&run(0, 0, None), "api -> db", "api", 1, held), None);
        assert_eq!(discover(&run(3, 1, None), "api -> cache", "api", 1, held), None);
    }

    #[test]
    fn deadlines_are_rounded_to_two_significant_digits() {
        assert_eq!(
            [603.0, 2013.0, 45.2, 995.0, 12_345.0, 0.2, f64::NAN].map(two_digits),
            [600, 2000, 45, 1000, 12_000, 1, 1]
        );
    }

    #[test]
    fn magnitudes_under_and_past_the_clients_deadline_when_they_fit_and_repeat_nothing() {
        let ms = Duration::from_millis;
        let planned = |v: Vec<(&'static str, Duration, Option<String>)>| {
            v.into_iter().filter(|(_, _, why)| why.is_none()).map(|(c, d, _)| (c, d)).collect::<Vec<_>>()
        };
        // 600 ms under a 3 s deadline: 300 ms and 900 ms, both new.
        let v = choose(ms(600), 1, 1, ms(3000));
        assert_eq!(planned(v), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300)), (SLOW_PAST_CLIENT_DEADLINE, ms(900))]);
        // Retried twice: 3 × 600 ms fit 3/4 of 3 s; 4 attempts (2.4 s) would not.
        assert_eq!(planned(choose(ms(600), 3, 1, ms(3000))).len(), 2);
        let v = choose(ms(600), 4, 1, ms(3000));
        assert_eq!(planned(v.clone()), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300))]);
        assert!(v[1].2.as_deref().is_some_and(|w| w.contains("race the deadline")), "{v:?}");
        // A client deadline near the workload's: the catalogue's half of it is already under it.
        let v = choose(ms(2800), 1, 1, ms(3000));
        assert!(v[0].2.as_deref().is_some_and(|w| w.contains("slow-under-deadline")), "{v:?}");
        // A third of the deadline: 1.5 × is the catalogue's half.
        let v = choose(ms(1000), 1, 1, ms(3000));
        assert_eq!(planned(v.clone()), [(SLOW_UNDER_CLIENT_DEADLINE, ms(500))]);
        assert!(v[1].2.as_deref().is_some_and(|w| w.contains("slow-under-deadline")), "{v:?}");
        // Several calls per workload request add up.
        assert_eq!(planned(choose(ms(600), 1, 5, ms(3000))), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300))]);
        assert!(planned(choose(ms(600), 1, 8, ms(3000))).is_empty());
    }
}
