//! `latency`: every chunk is delivered `latency ± jitter` after it was read. Chunks are
//! delayed from their arrival, not one after another, so throughput is unchanged.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic, jittered};
use crate::fault::spec::{Dur, EdgeFault, Effect};

/// `latency: 3s`, with `jitter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// Delay every chunk of data by this much (plus `jitter`).
    pub latency: Dur,
    /// With `latency`: a random extra delay between -jitter and +jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
}

impl EdgeFault for LatencySpec {
    const NAME: &'static str = "latency";
    const KEYS: &'static [&'static str] = &["latency", "jitter"];

    type Error = std::convert::Infallible;

    fn effect(&self) -> Result<Effect, Self::Error> {
        Ok(Effect::toxic(Latency { latency: self.latency.0, jitter: self.jitter.map(|d| d.0).unwrap_or_default() }))
    }
}

#[derive(Debug)]
pub(crate) struct Latency {
    pub latency: Duration,
    pub jitter: Duration,
}

impl Toxic for Latency {
    fn slows(&self) -> bool {
        true
    }

    fn on_data(&self, mut steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        let delay = jittered(self.latency, self.jitter, cx.rng);
        steps.insert(0, Step::SleepUntil(cx.arrived + delay));
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::{ConnState, testing};
    use std::time::Instant;

    #[test]
    fn delays_from_arrival_within_jitter() {
        let t = Latency { latency: Duration::from_millis(100), jitter: Duration::from_millis(10) };
        let now = Instant::now();
        let steps = testing::run(&t, &mut ConnState::new(now), now, b"hi");
        let Step::SleepUntil(at) = steps[0] else { panic!("{steps:?}") };
        let d = at - now;
        assert!(d >= Duration::from_millis(90) && d <= Duration::from_millis(110), "{d:?}");
        assert_eq!(testing::written(&steps), b"hi");
    }
}
