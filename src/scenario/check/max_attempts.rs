//! `max_attempts_per_request: N` with `on: CLIENT -> DEPENDENCY`: no request crosses the
//! edge more often than N, its attempts grouped by `Idempotency-Key` or `X-Request-Id`.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckKind, Judgement, Probe, plural};
use crate::config::Seg;
use crate::scenario::model::Check;
use crate::scenario::validate::Validator;

pub(super) const NAME: &str = "max_attempts_per_request";
pub(super) const KEYS: &[&str] = &[NAME];
pub(super) const ON: bool = true;
pub(super) const SETTLES: bool = false;
/// It only reads (see `recovers::ACTS`).
pub(super) const ACTS: bool = false;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Keys {
    /// No request crosses the edge more often than this (retries grouped by
    /// `Idempotency-Key` or `X-Request-Id`).
    max_attempts_per_request: u32,
}

pub(super) fn validate(v: &mut Validator<'_>, c: &Check, path: &[Seg]) -> Option<CheckKind> {
    let keys: Keys = v.keys(c, KEYS, path)?;
    let (from, to) = v.counted_edge(path, NAME, c.on.as_deref())?;
    Some(CheckKind::MaxAttempts { from, to, max: keys.max_attempts_per_request })
}

pub(super) fn explain(from: &str, to: &str, max: &u32) -> String {
    format!("at most {max} attempts per request on {from} -> {to} (by Idempotency-Key / X-Request-Id)")
}

pub(super) async fn judge<P: Probe>(probe: &P, from: &str, to: &str, max: &u32) -> Judgement {
    let what = format!("at most {max} attempts per request on {from} -> {to}");
    let expected = format!("≤ {max}");
    let Some(obs) = probe.edge(from, to) else {
        return Judgement::failed(what, expected, format!("no edge {from} -> {to} in the stack"));
    };
    let with_id = obs.requests.iter().filter(|r| r.request_id.is_some()).count();
    match obs.max_attempts() {
        Some((id, n)) => {
            let observed = format!(
                "{} of request {id} ({}, {with_id} with a request id)",
                plural(u64::from(n), "attempt"),
                plural(obs.requests.len() as u64, "request")
            );
            Judgement::judged(what, n <= *max, expected, observed)
        }
        // Nothing crossed: the bound was never put to the test. Neither a pass nor a failure.
        None if obs.requests.is_empty() => Judgement {
            unobserved: true,
            ..Judgement::failed(
                what,
                expected,
                format!("no request crossed {from} -> {to}, so the bound was never tested"),
            )
        },
        // Requests crossed but none can be grouped: the check cannot be judged; fail closed.
        None => Judgement::failed(
            what,
            expected,
            format!("{} requests, none with an Idempotency-Key or X-Request-Id to group them", obs.requests.len()),
        ),
    }
}
