//! An edge's observations as text for people.

use std::fmt::Write;

use crate::fault::Observations;

pub fn render_text(o: &Observations) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "edge {} (seed {}), {:.1} s", o.edge, o.seed, o.elapsed_ms / 1e3);
    let outcomes: Vec<String> = o.connections_by_outcome.iter().map(|(k, v)| format!("{v} {}", outcome(k))).collect();
    let _ = writeln!(
        s,
        "  connections  {} ({})",
        o.connections_opened,
        if outcomes.is_empty() { "none".into() } else { outcomes.join(", ") }
    );
    let _ = writeln!(s, "  bytes        {} upstream, {} downstream", o.bytes_upstream, o.bytes_downstream);
    if !o.requests.is_empty() {
        let faulted = o.requests.iter().filter(|r| r.fault.is_some()).count();
        let _ = writeln!(s, "  requests     {} ({faulted} acted on by a fault)", o.requests.len());
        if let Some(l) = &o.latency {
            let _ = writeln!(
                s,
                "  latency      p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        if let Some((id, n)) = o.max_attempts() {
            let _ = writeln!(s, "  attempts     at most {n} for one request ({id})");
        }
    }
    s
}

fn outcome(o: &crate::fault::observe::ConnOutcome) -> String {
    serde_json::to_value(o).ok().and_then(|v| v.as_str().map(|s| s.replace('_', " "))).unwrap_or_default()
}
