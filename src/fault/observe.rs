//! What crossed an edge: connections and their outcomes, bytes each way, and for HTTP edges
//! every request with its status, timing, fault and attempt number.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnOutcome {
    /// Still open when observed.
    Open,
    /// Both sides finished normally.
    Closed,
    /// Reset by a fault (`reset`, HTTP `drop`).
    Reset,
    /// Closed by a fault (`timeout`, `limit_data`, HTTP `drop: close`).
    ClosedByFault,
    /// Refused at accept (`refuse`, or the edge disabled).
    Refused,
    /// The dependency refused the connection.
    UpstreamRefused,
    /// Cut when the edge was disabled.
    Cut,
    /// A socket error ended it.
    Error,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ConnRecord {
    pub id: u64,
    /// Milliseconds since the edge started.
    pub opened_ms: f64,
    pub closed_ms: Option<f64>,
    pub outcome: ConnOutcome,
    pub bytes_upstream: u64,
    pub bytes_downstream: u64,
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// A complete response reached the client.
    Answered,
    /// A fault answered instead of the dependency.
    Faulted,
    /// A fault dropped the connection in the middle of the response.
    Dropped,
    /// The dependency closed or broke the connection before a complete response.
    UpstreamFailed,
    /// The client went away before the response was complete: it closed its connection
    /// while the edge read from it, or while an HTTP `delay` held its request (its own
    /// timeout; the request is still forwarded after the hold).
    ClientGone,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RequestRecord {
    pub conn: u64,
    /// Order of arrival on the edge, from 1.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    pub start_ms: f64,
    /// From the request head reaching the edge until the response was handed on to the
    /// client side: the dependency's time plus HTTP `delay` faults. Connection-level toxics
    /// delay delivery after that, so they are not in it. For a client gone during a hold:
    /// until it went away (how long it waited).
    pub duration_ms: f64,
    /// The name of the fault that acted on the request.
    pub fault: Option<String>,
    pub outcome: RequestOutcome,
    /// The value of the first request-id header present (`Idempotency-Key`, …).
    pub request_id: Option<String>,
    /// Which attempt of `request_id` this was, from 1.
    pub attempt: Option<u32>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The nearest-rank `p`th percentile (0..=100) of sorted `values`; `None` when empty.
pub(crate) fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1])
}

impl Percentiles {
    /// Nearest-rank percentiles of `values`; `None` when empty.
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |p: f64| nearest_rank(&values, p * 100.0).unwrap_or_default();
        Some(Percentiles { count: values.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: at(1.0) })
    }
}

/// A snapshot of an edge's observations.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Observations {
    pub edge: String,
    pub seed: u64,
    pub elapsed_ms: f64,
    pub connections_opened: u64,
    pub connections_by_outcome: BTreeMap<ConnOutcome, u64>,
    pub bytes_upstream: u64,
    pub bytes_downstream: u64,
    pub connections: Vec<ConnRecord>,
    pub requests: Vec<RequestRecord>,
    /// Durations of answered requests (HTTP edges).
    pub latency: Option<Percentiles>,
}

impl Observations {
    /// Attempts per request id, for requests that carried one.
    pub(crate) fn attempts_per_request(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for r in &self.requests {
            if let (Some(id), Some(a)) = (&r.request_id, r.attempt) {
                let e = out.entry(id.clone()).or_insert(0);
                *e = (*e).max(a);
            }
        }
        out
    }

    /// The request id with the most attempts, and how many.
    pub fn max_attempts(&self) -> Option<(String, u32)> {
        self.attempts_per_request().into_iter().max_by_key(|(id, n)| (*n, std::cmp::Reverse(id.clone())))
    }
}

/// Collects observations while the edge runs. Cheap on the data path: byte counts are
/// atomics owned by each connection; records are appended once per connection or request.
pub(crate) struct Recorder {
    pub start: Instant,
    closed: Mutex<Vec<ConnRecord>>,
    requests: Mutex<Vec<RequestRecord>>,
    attempts: Mutex<HashMap<String, u32>>,
    next_seq: AtomicU64,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            start: Instant::now(),
            closed: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(1),
        }
    }

    pub(crate) fn ms(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_secs_f64() * 1e3
    }

    pub(crate) fn closed(&self, r: ConnRecord) {
        self.closed.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// The next request's arrival number.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts an attempt of `id`; returns its number.
    pub(crate) fn attempt(&self, id: &str) -> u32 {
        let mut map = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(id.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    pub(crate) fn request(&self, r: RequestRecord) {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    pub(crate) fn snapshot(&self, edge: &str, seed: u64, open: Vec<ConnRecord>) -> Observations {
        let mut connections = self.closed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        connections.extend(open);
        connections.sort_by_key(|c| c.id);
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone();
        requests.sort_by_key(|r| r.seq);
        let mut by_outcome = BTreeMap::new();
        for c in &connections {
            *by_outcome.entry(c.outcome).or_insert(0) += 1;
        }
        let answered =
            requests.iter().filter(|r| r.outcome == RequestOutcome::Answered).map(|r| r.duration_ms).collect();
        Observations {
            edge: edge.to_owned(),
            seed,
            elapsed_ms: self.ms(Instant::now()),
            connections_opened: connections.len() as u64,
            connections_by_outcome: by_outcome,
            bytes_upstream: connections.iter().map(|c| c.bytes_upstream).sum(),
            bytes_downstream: connections.iter().map(|c| c.bytes_downstream).sum(),
            connections,
            requests,
            latency: Percentiles::of(answered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![]), None);
        assert_eq!(Percentiles::of(vec![7.0]).unwrap().p99_ms, 7.0);
    }
}
