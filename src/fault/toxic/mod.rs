//! Connection-level faults ("toxics"), one small module each: its parameters as written
//! (an [`EdgeFault`](crate::fault::spec::EdgeFault), listed in `spec.rs`'s table), their
//! checks, and its effect behind [`Toxic`].
//!
//! A toxic never touches a socket. It rewrites what one chunk of data turns into — a list
//! of [`Step`]s the connection's writer then carries out — and may ask for an action at a
//! deadline when no data flows (a timeout that closes an idle connection). That keeps each
//! toxic a few lines of plain, unit-testable logic, and lets toxics chain: each one rewrites
//! the steps the previous one produced.

pub(crate) mod bandwidth;
pub(crate) mod down;
pub(crate) mod latency;
pub(crate) mod limit_data;
pub(crate) mod refuse;
pub(crate) mod reset;
pub(crate) mod slicer;
pub(crate) mod slow_close;
pub(crate) mod timeout;

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which way data flows. Upstream is client → dependency (requests), downstream is
/// dependency → client (replies), as in Toxiproxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl Direction {
    /// Whether a toxic with this direction applies to data flowing `way`.
    pub(crate) fn covers(self, way: Direction) -> bool {
        self == Direction::Both || self == way
    }
}

/// What one chunk becomes; carried out in order by the connection's writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait until this instant.
    SleepUntil(Instant),
    /// Wait this long.
    Sleep(Duration),
    /// Write these bytes to the destination.
    Write(Bytes),
    /// Half-close the destination (the source reached its end).
    Shutdown,
    /// Close the whole connection, both sides.
    Close,
    /// Reset the whole connection, both sides (TCP RST).
    Reset,
}

/// What a toxic remembers about one connection.
#[derive(Debug, Clone)]
pub struct ConnState {
    /// When this toxic started to apply to this connection.
    pub since: Instant,
    /// Bytes this toxic has let through on this connection.
    pub bytes: u64,
    /// Bandwidth: when the link is free again.
    pub free_at: Instant,
}

impl ConnState {
    pub(crate) fn new(now: Instant) -> Self {
        ConnState { since: now, bytes: 0, free_at: now }
    }
}

/// What a toxic sees of the chunk it rewrites.
pub struct Cx<'a> {
    pub now: Instant,
    /// When the chunk was read from its source.
    pub arrived: Instant,
    pub state: &'a mut ConnState,
    pub rng: &'a mut dyn rand::RngCore,
}

/// One connection-level fault.
pub trait Toxic: Send + Sync + fmt::Debug {
    /// Rewrites the steps a chunk turns into. `steps` holds what earlier toxics produced.
    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step>;

    /// Rewrites what the end of the source turns into (by default, a half-close).
    fn on_eof(&self, steps: Vec<Step>, _cx: &mut Cx<'_>) -> Vec<Step> {
        steps
    }

    /// An action due at a time even if no data flows.
    fn deadline(&self, _state: &ConnState) -> Option<(Instant, Step)> {
        None
    }

    /// Whether new connections are refused while this toxic is active.
    fn refuses(&self) -> bool {
        false
    }

    /// Whether it swallows data: connections it held are cut when it is removed, as their
    /// bytes are lost and neither end could make sense of what follows.
    fn swallows(&self) -> bool {
        false
    }

    /// Whether the connections open when it is added are cut (the dependency went away).
    fn cuts_open(&self) -> bool {
        false
    }

    /// Whether it holds data back, so answers take longer (a guess of run time for
    /// scheduling, not a promise).
    fn slows(&self) -> bool {
        false
    }
}

/// A uniformly random duration in `[-spread, +spread]` added to `base`, never below zero.
pub(crate) fn jittered(base: Duration, spread: Duration, rng: &mut dyn rand::RngCore) -> Duration {
    if spread.is_zero() {
        return base;
    }
    let s = spread.as_nanos() as i128;
    let offset = rng.random_range(-s..=s);
    Duration::from_nanos((base.as_nanos() as i128 + offset).max(0) as u64)
}

/// Applies `f` to every `Write` in `steps`, keeping the other steps in place.
pub(crate) fn map_writes(steps: Vec<Step>, mut f: impl FnMut(Bytes) -> Vec<Step>) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len());
    for s in steps {
        match s {
            Step::Write(b) => out.extend(f(b)),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use rand::SeedableRng;

    /// Runs a toxic over one chunk that arrived at `arrived`, with a fixed seed.
    pub(crate) fn run(t: &dyn Toxic, state: &mut ConnState, arrived: Instant, data: &'static [u8]) -> Vec<Step> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut cx = Cx { now: arrived, arrived, state, rng: &mut rng };
        t.on_data(vec![Step::Write(Bytes::from_static(data))], &mut cx)
    }

    pub(crate) fn written(steps: &[Step]) -> Vec<u8> {
        steps.iter().filter_map(|s| if let Step::Write(b) = s { Some(b.to_vec()) } else { None }).flatten().collect()
    }
}
