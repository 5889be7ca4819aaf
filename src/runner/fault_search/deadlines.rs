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
//!
//! Whose deadline ([`judge`]). The change under test is an adversary: were `D` its own, it
//! would choose the magnitudes it is judged at by choosing its timeout (none: no `D`, no
//! magnitude; another: `D/2` where its bug does not show). So where the base revision ran the
//! same `slow-past-deadline` (the gate; its outcome recorded by the protected branch,
//! `--base-results`, holds every request the proxy saw, which is all [`discover`] needs), the
//! magnitudes are of the base's `D`, with the base's attempts, and calls per workload request
//! no more than the base made under the hold. Where the change's own `D` differs (not within
//! 20 %), its magnitudes run too, classes ending in `-of-change`, those within 20 % of a
//! magnitude of the base's left out. The base's `D` stands in the report beside the change's
//! ([`ClientDeadline::base`]). Where the base's client never gave up (it has no deadline of its
//! own), or its run held nothing, or there is no base (`faultline explore`), the magnitudes are
//! of the change's `D`, as its run shows it (the base's when the change's held nothing to its
//! end, `on_base`).

use std::time::Duration;

use super::Results;
use super::pairs::{Did, Skipped};
use crate::fault::observe::{RequestOutcome, nearest_rank};
use crate::outcome::{Answered, BaseDeadline, ClientDeadline, ExploreShare, ScenarioOutcome, Split, Status};
use crate::scenario::experiments::{
    Experiment, InvalidExperiment, Mode, OF_CHANGE, SLOW_PAST_CLIENT_DEADLINE, SLOW_UNDER_CLIENT_DEADLINE, Workload,
};

/// The catalogue's class whose run shows each client's deadline.
const PAST_DEADLINE: &str = "slow-past-deadline";

/// What the deadlines found lead to: the deadlines, the experiments at their magnitudes,
/// and the magnitudes left out with why.
pub(super) type Planned = (Vec<ClientDeadline>, Vec<Experiment>, Skipped);

/// The client's deadline on each HTTP edge whose `slow-past-deadline` of one request at a
/// time ran, and the experiments at its magnitudes ([`judge`]: the base's deadline's where a
/// base ran it). None in a shard of an exploration split by experiment (`share`), whose
/// catalogue every shard must agree on: the deadlines only.
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
        let Some((o, compared)) = results.get(&e.name).and_then(|(_, o)| o.as_ref()) else { continue };
        let Some(edge) = reference.used.iter().find(|u| u.name() == e.on && u.http) else { continue };
        let held = e.faults.first().and_then(|f| f.pointer("/http/delay")?.as_str());
        let Some(held) = held.and_then(|h| humantime::parse_duration(h).ok()) else { continue };
        let need = reference.per_request.get(&e.on).map_or(1, |(n, _)| (*n).max(1));
        // The change's run, when it ran; the base's, whatever the change's did.
        let head = Some(o).filter(|o| o.status != Status::Error);
        let head = head.and_then(|o| discover(o, &e.on, &w.service, need, held));
        let base = compared.as_ref().map(|c| &c.base).filter(|b| b.status != Status::Error);
        // The change's reference counts its calls per workload request: no more than the base
        // made under the hold, so that calling more often cannot push the base's magnitudes
        // past the budget.
        let base_need = base.map_or(need, |b| need.min(held_calls(b, &e.on, &w.service).unwrap_or(need)).max(1));
        let base = base.and_then(|b| discover(b, &e.on, &w.service, base_need, held));
        let Some((reported, sets)) = judge(head, base) else { continue };
        found.push(reported);
        if split {
            continue;
        }
        // Each magnitude tried, by class: a later set repeats none of them.
        let mut tried: Vec<(String, Duration)> = Vec::new();
        for set in sets {
            let need = if set.of_base { base_need } else { need };
            let deadline = Duration::from_millis(set.deadline_ms);
            let magnitudes = choose(deadline, set.attempts, need, w.deadline, &tried);
            for (class, delay, left_out) in magnitudes.into_iter().filter(|(class, _, _)| w.runs(class)) {
                // Under the client's deadline the answers must be the fault-free ones; past it,
                // what the workload accepts.
                let must: &[bool] = if class == SLOW_UNDER_CLIENT_DEADLINE { &succeed } else { &[] };
                let named = format!("{class}{}", set.suffix);
                let x = crate::scenario::experiments::magnitude(w, config, edge, &named, delay, must)?;
                match left_out {
                    Some(why) => skipped.push((x.name, why)),
                    None => {
                        tried.push((named, delay));
                        out.push(x);
                    }
                }
            }
        }
    }
    Ok((found, out, skipped))
}

/// A client deadline whose magnitudes are tried ([`judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Magnitudes {
    pub deadline_ms: u64,
    pub attempts: u32,
    /// The base's deadline (its calls per workload request count).
    pub of_base: bool,
    /// The end of the classes' names: empty, or [`OF_CHANGE`].
    pub suffix: &'static str,
}

/// Whose deadline on an edge is reported and whose magnitudes are tried, from what the
/// change's run (`head`) and the base's (`base`) of `slow-past-deadline` showed (`None`: no
/// such run, or it held no request to its end). With a base that showed a deadline, the
/// base's magnitudes, and the change's too when its deadline is another (not within 20 %);
/// otherwise the change's (the base's when the change's run held nothing: `on_base`). The
/// change's deadline is reported, the base's beside it where they differ.
pub(crate) fn judge(
    head: Option<ClientDeadline>,
    base: Option<ClientDeadline>,
) -> Option<(ClientDeadline, Vec<Magnitudes>)> {
    let set = |d: &ClientDeadline, of_base: bool, suffix| {
        d.deadline_ms.map(|deadline_ms| Magnitudes { deadline_ms, attempts: d.attempts, of_base, suffix })
    };
    match (head, base) {
        (None, None) => None,
        (None, Some(b)) => {
            let sets = set(&b, true, "").into_iter().collect();
            Some((ClientDeadline { on_base: true, ..b }, sets))
        }
        (Some(h), None) => {
            let sets = set(&h, false, "").into_iter().collect();
            Some((h, sets))
        }
        (Some(h), Some(b)) => {
            let same = match (h.deadline_ms, b.deadline_ms) {
                (Some(x), Some(y)) => near(Duration::from_millis(x), Duration::from_millis(y)),
                (x, y) => x == y,
            };
            let sets: Vec<Magnitudes> = match set(&b, true, "") {
                Some(of_base) => {
                    [Some(of_base), set(&h, false, OF_CHANGE).filter(|_| !same)].into_iter().flatten().collect()
                }
                None => set(&h, false, "").into_iter().collect(),
            };
            let differs = !same || h.attempts != b.attempts;
            let base = differs.then_some(BaseDeadline { deadline_ms: b.deadline_ms, attempts: b.attempts });
            Some((ClientDeadline { base, ..h }, sets))
        }
    }
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
    let holds: Vec<_> = obs.requests.iter().filter(|r| r.fault.is_some()).collect();
    if holds.is_empty() {
        return None;
    }
    let mut gone: Vec<f64> =
        holds.iter().filter(|r| r.outcome == RequestOutcome::ClientGone).map(|r| r.duration_ms).collect();
    gone.sort_by(f64::total_cmp);
    // Most attempts given up on: the client has a deadline of its own.
    let deadline_ms = (gone.len() * 2 > holds.len()).then(|| nearest_rank(&gone, 50.0).map(two_digits)).flatten();
    let calls = held_calls(o, edge, service).unwrap_or(need);
    let attempts = u32::try_from((calls as f64 / need.max(1) as f64).round() as u64).unwrap_or(1).max(1);
    Some(ClientDeadline {
        edge: edge.to_owned(),
        deadline_ms,
        held_ms: u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
        attempts,
        on_base: false,
        base: None,
    })
}

/// The requests held on `edge` during one workload request to `service` (the median over
/// those that made any): its calls times its attempts. `None` when none was held.
fn held_calls(o: &ScenarioOutcome, edge: &str, service: &str) -> Option<usize> {
    let obs = o.edges.get(edge)?;
    let offset = o.edge_offsets_ms.get(edge).copied().unwrap_or(0.0);
    let held = obs.requests.iter().filter(|r| r.fault.is_some()).map(|r| r.start_ms + offset);
    let mut counts: Vec<usize> = per_workload_request(o, service, held).into_iter().filter(|n| *n > 0).collect();
    counts.sort_unstable();
    nearest_rank(&counts, 50.0)
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
/// workload's deadline, `tried` the magnitudes of another deadline tried already (each class
/// with its delay): each class with its delay, and why it is left out, if it is.
pub(crate) fn choose(
    deadline: Duration,
    attempts: u32,
    need: usize,
    workload: Duration,
    tried: &[(String, Duration)],
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
            .map(|(class, d)| (*class, *d))
            .chain(tried.iter().map(|(class, d)| (class.as_str(), *d)))
            .find(|(_, d)| near(delay, *d))
            .map(|(class, d)| format!("{class} holds the edge about as long ({}) one request at a time already", s(d)))
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
        let v = choose(ms(600), 1, 1, ms(3000), &[]);
        assert_eq!(planned(v), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300)), (SLOW_PAST_CLIENT_DEADLINE, ms(900))]);
        // Retried twice: 3 × 600 ms fit 3/4 of 3 s; 4 attempts (2.4 s) would not.
        assert_eq!(planned(choose(ms(600), 3, 1, ms(3000), &[])).len(), 2);
        let v = choose(ms(600), 4, 1, ms(3000), &[]);
        assert_eq!(planned(v.clone()), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300))]);
        assert!(v[1].2.as_deref().is_some_and(|w| w.contains("race the deadline")), "{v:?}");
        // A client deadline near the workload's: the catalogue's half of it is already under it.
        let v = choose(ms(2800), 1, 1, ms(3000), &[]);
        assert!(v[0].2.as_deref().is_some_and(|w| w.contains("slow-under-deadline")), "{v:?}");
        // A third of the deadline: 1.5 × is the catalogue's half.
        let v = choose(ms(1000), 1, 1, ms(3000), &[]);
        assert_eq!(planned(v.clone()), [(SLOW_UNDER_CLIENT_DEADLINE, ms(500))]);
        assert!(v[1].2.as_deref().is_some_and(|w| w.contains("slow-under-deadline")), "{v:?}");
        // Several calls per workload request add up.
        assert_eq!(planned(choose(ms(600), 1, 5, ms(3000), &[])), [(SLOW_UNDER_CLIENT_DEADLINE, ms(300))]);
        assert!(planned(choose(ms(600), 1, 8, ms(3000), &[])).is_empty());
    }

    /// A client as a run of `slow-past-deadline` showed it.
    fn client(deadline_ms: Option<u64>, attempts: u32) -> ClientDeadline {
        ClientDeadline { edge: "api -> db".into(), deadline_ms, held_ms: 7000, attempts, on_base: false, base: None }
    }

    fn of(deadline_ms: u64, attempts: u32, of_base: bool, suffix: &'static str) -> Magnitudes {
        Magnitudes { deadline_ms, attempts, of_base, suffix }
    }

    #[test]
    fn the_magnitudes_are_of_the_bases_deadline_wherever_the_base_showed_one() {
        let base = || Some(client(Some(1000), 1));
        // The change removed its timeout (or made it longer than the hold): the base's.
        let (said, sets) = judge(Some(client(None, 1)), base()).unwrap();
        assert_eq!(sets, [of(1000, 1, true, "")]);
        assert_eq!((said.deadline_ms, said.base), (None, Some(BaseDeadline { deadline_ms: Some(1000), attempts: 1 })));
        // Another timeout: the base's, and the change's named apart.
        let (said, sets) = judge(Some(client(Some(300), 1)), base()).unwrap();
        assert_eq!(sets, [of(1000, 1, true, ""), of(300, 1, false, OF_CHANGE)]);
        assert_eq!(said.deadline_ms, Some(300));
        assert_eq!(said.base.and_then(|b| b.deadline_ms), Some(1000));
        // Within 20 %: the base's alone, nothing to say; other retries are said.
        let (said, sets) = judge(Some(client(Some(1100), 1)), base()).unwrap();
        assert_eq!((sets, said.base), (vec![of(1000, 1, true, "")], None));
        let (said, sets) = judge(Some(client(Some(1000), 3)), base()).unwrap();
        assert_eq!(sets, [of(1000, 1, true, "")]);
        assert_eq!(said.base, Some(BaseDeadline { deadline_ms: Some(1000), attempts: 1 }));
        // The change's run held nothing to its end, or could not run: the base's, on_base.
        let (said, sets) = judge(None, base()).unwrap();
        assert!(said.on_base && said.base.is_none(), "{said:?}");
        assert_eq!(sets, [of(1000, 1, true, "")]);
        // The base has no deadline of its own: the change's, which is new.
        let (said, sets) = judge(Some(client(Some(300), 1)), Some(client(None, 1))).unwrap();
        assert_eq!(sets, [of(300, 1, false, "")]);
        assert_eq!(said.base, Some(BaseDeadline { deadline_ms: None, attempts: 1 }));
        // No base (`faultline explore`), or its run held nothing: the change's, as it shows it.
        assert_eq!(judge(Some(client(Some(300), 2)), None).unwrap().1, [of(300, 2, false, "")]);
        assert!(judge(Some(client(None, 1)), None).unwrap().1.is_empty());
        assert_eq!(judge(None, None), None);
    }

    #[test]
    fn a_magnitude_of_the_changes_deadline_repeats_none_of_the_bases() {
        let ms = Duration::from_millis;
        // The base's 1 s tried 500 ms and 1.5 s; half the change's 3 s is 1.5 s, tried already.
        let tried =
            [("slow-under-client-deadline".to_owned(), ms(500)), ("slow-past-client-deadline".to_owned(), ms(1500))];
        let v = choose(ms(3000), 1, 1, ms(12_000), &tried);
        assert_eq!(v[0].1, ms(1500));
        assert!(v[0].2.as_deref().is_some_and(|w| w.starts_with("slow-past-client-deadline holds the edge")), "{v:?}");
        assert_eq!((v[1].1, v[1].2.as_deref()), (ms(4500), None));
    }

    #[test]
    fn a_recorded_base_result_holds_all_a_deadline_is_found_from() {
        // The protected branch records the base's outcome whole (`--base-results`): read back,
        // it shows the same deadline and attempts.
        let o = run(3, 3, Some(603.0));
        let entry = crate::runner::base_results::Entry {
            tree: "t".into(),
            service: "api".into(),
            experiment: "explore-api-api-db-slow-past-deadline-seq".into(),
            outcome: o.clone(),
        };
        let read = crate::runner::base_results::Entry::parse(&serde_json::to_vec(&entry).unwrap()).unwrap();
        let held = Duration::from_secs(4);
        let d = discover(&read.outcome, "api -> db", "api", 1, held);
        assert_eq!(d, discover(&o, "api -> db", "api", 1, held));
        assert_eq!(d.map(|d| (d.deadline_ms, d.attempts)), Some((Some(600), 3)));
        // What the base made under the hold bounds the calls the change counts.
        assert_eq!(held_calls(&read.outcome, "api -> db", "api"), Some(3));
    }
}
