//! `latency`: every chunk is delivered `latency ± jitter` after it was read. Chunks are
//! delayed from their arrival, not one after another, so throughput is unchanged.

use std::time::Duration;

use super::{Cx, Step, Toxic, jittered};

#[derive(Debug)]
pub struct Latency {
    pub latency: Duration,
    pub jitter: Duration,
}

impl Toxic for Latency {
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
