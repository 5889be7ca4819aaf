//! `max_requests: N` with `on: CLIENT -> DEPENDENCY`: at most N HTTP requests cross the edge
//! over the whole scenario, a bound on retries for clients whose requests carry no id to
//! group them by (most calls to an outside API).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckKind, Judgement, Probe, plural};
use crate::config::Seg;
use crate::scenario::model::Check;
use crate::scenario::validate::Validator;

pub(super) const NAME: &str = "max_requests";
pub(super) const KEYS: &[&str] = &[NAME];
pub(super) const ON: bool = true;
pub(super) const SETTLES: bool = false;
/// It only reads (see `recovers::ACTS`).
pub(super) const ACTS: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// At most this many HTTP requests cross the edge over the whole scenario: a bound on
    /// retries for clients whose requests carry no id to group them by (most calls to an
    /// outside API). No request at all is not a pass: the bound was never tested.
    max_requests: u32,
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let keys: Keys = v.keys(c, KEYS, path)?;
    let (from, to) = v.counted_edge(path, NAME, c.on.as_deref())?;
    Some(CheckKind::MaxRequests { from, to, max: keys.max_requests })
}

pub(super) fn explain(from: &str, to: &str, max: &u32) -> String {
    format!("at most {max} requests on {from} -> {to} over the whole scenario")
}

/// No request at all crossing the edge is not judged: the bound was never put to the test
/// (a client that stopped calling would pass it).
pub(super) async fn judge<P: Probe>(probe: &P, from: &str, to: &str, max: &u32) -> Judgement {
    let what = format!("at most {} on {from} -> {to}", plural(u64::from(*max), "request"));
    let expected = format!("≤ {max}");
    let Some(obs) = probe.edge(from, to) else {
        return Judgement::failed(what, expected, format!("no edge {from} -> {to} in the stack"));
    };
    let n = obs.requests.len();
    if n == 0 {
        return Judgement {
            unobserved: true,
            ..Judgement::failed(
                what,
                expected,
                format!("no request crossed {from} -> {to}, so the bound was never tested"),
            )
        };
    }
    let faulted = obs.requests.iter().filter(|r| r.fault.is_some()).count();
    let observed = format!("{} ({faulted} met a fault)", plural(n as u64, "request"));
    Judgement::judged(what, n as u64 <= u64::from(*max), expected, observed)
}
