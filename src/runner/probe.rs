//! The probes of a scenario (`probes:`), run beside its steps: a health endpoint requested
//! on the service's first port directly (no proxy between, so a fault on an edge does not
//! touch it and the ingress' requests stay the workload's), every `every` from the start of
//! the steps until they end, while the faults are in place. Every answer must be a 2xx
//! within `within`; each one that is not is kept with when it came and what it said, and
//! the probe becomes a check of the scenario.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::workload::{self, Prepared};
use crate::config::Config;
use crate::outcome::{CheckOutcome, FaultWindow};
use crate::scenario::validate::HealthProbe;
use crate::stack::{Stack, StackError};

/// What one probe saw during a run.
#[derive(Debug, Default)]
pub(crate) struct ProbeLog {
    pub sent: u32,
    /// Each failed probe: when (ms on the steps' clock) and what it answered.
    pub failures: Vec<(f64, String)>,
    pub slowest: Duration,
}

/// The probes shown one by one in a failed probe's check; the rest are counted.
const SHOWN: usize = 3;
/// The characters of a failed probe's answer shown.
const BODY_SHOWN: usize = 120;

/// Where a probe of `service` goes: its first port as published on the host.
pub(crate) fn addr(stack: &Stack, config: &Config, service: &str) -> Result<SocketAddr, StackError> {
    let port = config.services.get(service).and_then(|s| s.ports.first()).copied().ok_or_else(|| {
        StackError::Start { service: service.to_owned(), reason: "it has no port to probe".to_owned() }
    })?;
    stack.published(service, port)
}

/// Probes `addr` every `probe.every` until `stop` says the steps ended (at least once).
pub(crate) async fn watch(
    addr: SocketAddr,
    probe: &HealthProbe,
    clock: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ProbeLog {
    let mut log = ProbeLog::default();
    let mut next = Instant::now();
    loop {
        let at_ms = clock.elapsed().as_secs_f64() * 1e3;
        let req = Prepared { path: probe.line.path.clone(), headers: Vec::new(), body: None };
        let (a, reply) = workload::send(addr, &probe.line, req, probe.within, None, true).await;
        log.sent += 1;
        log.slowest = log.slowest.max(a.latency);
        match (a.status, a.error) {
            (Some(s), _) if (200..300).contains(&s) && a.latency <= probe.within => {}
            (Some(s), _) => {
                let body = reply.map(|r| String::from_utf8_lossy(&r.body).into_owned()).unwrap_or_default();
                let body: String = body.trim().chars().filter(|c| !c.is_control()).take(BODY_SHOWN).collect();
                let late = if a.latency > probe.within {
                    format!(" after {} ms", a.latency.as_millis())
                } else {
                    String::new()
                };
                let said = if body.is_empty() { String::new() } else { format!(" {body}") };
                log.failures.push((at_ms, format!("{s}{late}{said}")));
            }
            (None, e) => log.failures.push((at_ms, e.map_or_else(|| "no answer".to_owned(), |e| e.to_string()))),
        }
        next += probe.every;
        if *stop.borrow() {
            return log;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.max(Instant::now()).into()) => {}
            _ = stop.wait_for(|s| *s) => return log,
        }
    }
}

/// The probe as a check of the scenario: every answer a 2xx in time, or when and what
/// the failed ones answered (and whether a fault was in place then).
pub(crate) fn judge(
    index: usize,
    line: usize,
    probe: &HealthProbe,
    log: &ProbeLog,
    faults: &[FaultWindow],
) -> CheckOutcome {
    let expected = format!("every probe answers 2xx within {}", humantime::format_duration(probe.within));
    let observed = if log.failures.is_empty() {
        format!("{} probes, all 2xx (slowest {} ms)", log.sent, log.slowest.as_millis())
    } else {
        let mut parts: Vec<String> = log
            .failures
            .iter()
            .take(SHOWN)
            .map(|(at, what)| format!("at {:.1} s{}: {what}", at / 1e3, during(*at, faults)))
            .collect();
        if log.failures.len() > SHOWN {
            parts.push(format!("and {} more", log.failures.len() - SHOWN));
        }
        format!("{} of {} probes failed: {}", log.failures.len(), log.sent, parts.join("; "))
    };
    CheckOutcome {
        index,
        line,
        check: probe.describe(),
        passed: log.sent > 0 && log.failures.is_empty(),
        expected,
        observed,
        unobserved: log.sent == 0,
    }
}

/// ` (while faults[0] on api -> db was in place)`, or nothing.
fn during(at_ms: f64, faults: &[FaultWindow]) -> String {
    let on: Vec<String> = faults
        .iter()
        .filter(|w| w.start_ms <= at_ms && at_ms <= w.end_ms)
        .map(|w| format!("{} on {} ({})", w.name, w.on, w.what))
        .collect();
    if on.is_empty() { String::new() } else { format!(" (while {} was in place)", on.join(", ")) }
}

/// Where each probe of `probes` goes.
pub(crate) fn addrs(stack: &Stack, config: &Config, probes: &[HealthProbe]) -> Vec<Result<SocketAddr, StackError>> {
    probes.iter().map(|p| addr(stack, config, &p.line.service)).collect()
}

/// Every probe at once until `stop`; a probe with no address is its error.
pub(crate) async fn watch_all(
    probes: &[HealthProbe],
    addrs: Vec<Result<SocketAddr, StackError>>,
    clock: Instant,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<Result<ProbeLog, StackError>> {
    let runs = probes.iter().zip(addrs).map(|(p, a)| {
        let stop = stop.clone();
        async move {
            match a {
                Ok(addr) => Ok(watch(addr, p, clock, stop).await),
                Err(e) => Err(e),
            }
        }
    });
    futures_util::future::join_all(runs).await
}
