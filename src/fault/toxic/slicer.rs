//! `slicer`: data is cut into slices of `average ± variation` bytes, written `delay` apart.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic, map_writes};
use crate::fault::spec::{Dur, EdgeFault, Effect};

/// `slicer: { average_size: 64, … }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlicerFault {
    /// Split data into small writes with delays in between.
    pub slicer: SlicerSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlicerSpec {
    /// Average size of a slice in bytes.
    pub average_size: usize,
    /// Slices vary by up to this many bytes around the average.
    #[serde(default)]
    pub size_variation: usize,
    /// Delay between slices.
    #[serde(default = "zero_dur")]
    pub delay: Dur,
}

fn zero_dur() -> Dur {
    Dur(Duration::ZERO)
}

impl EdgeFault for SlicerFault {
    const NAME: &'static str = "slicer";
    const KEYS: &'static [&'static str] = &["slicer"];

    type Error = SlicerError;

    fn effect(&self) -> Result<Effect, SlicerError> {
        let s = &self.slicer;
        if s.average_size == 0 {
            return Err(SlicerError::NoSize);
        }
        if s.size_variation >= s.average_size {
            return Err(SlicerError::Variation { variation: s.size_variation, average: s.average_size });
        }
        Ok(Effect::toxic(Slicer { average: s.average_size, variation: s.size_variation, delay: s.delay.0 }))
    }
}

/// Slices that cannot be cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlicerError {
    #[error("slicer.average_size must be at least 1 byte")]
    NoSize,
    #[error("slicer.size_variation ({variation}) must be smaller than average_size ({average})")]
    Variation { variation: usize, average: usize },
}

#[derive(Debug)]
pub(crate) struct Slicer {
    pub average: usize,
    pub variation: usize,
    pub delay: Duration,
}

impl Toxic for Slicer {
    fn slows(&self) -> bool {
        true
    }

    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        let rng = &mut *cx.rng;
        map_writes(steps, |mut b: Bytes| {
            let mut out = Vec::new();
            while !b.is_empty() {
                let size = if self.variation == 0 {
                    self.average
                } else {
                    rng.random_range(self.average - self.variation..=self.average + self.variation)
                };
                if !out.is_empty() && !self.delay.is_zero() {
                    out.push(Step::Sleep(self.delay));
                }
                out.push(Step::Write(b.split_to(size.clamp(1, b.len()))));
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::{ConnState, testing};
    use std::time::Instant;

    #[test]
    fn slices_keep_every_byte_in_order() {
        let t = Slicer { average: 4, variation: 2, delay: Duration::from_millis(1) };
        let now = Instant::now();
        let steps = testing::run(&t, &mut ConnState::new(now), now, b"the quick brown fox jumps");
        assert_eq!(testing::written(&steps), b"the quick brown fox jumps");
        let writes: Vec<usize> =
            steps.iter().filter_map(|s| if let Step::Write(b) = s { Some(b.len()) } else { None }).collect();
        assert!(writes.len() >= 4, "{writes:?}");
        assert!(writes[..writes.len() - 1].iter().all(|n| (2..=6).contains(n)), "{writes:?}");
        assert_eq!(steps.iter().filter(|s| matches!(s, Step::Sleep(_))).count(), writes.len() - 1);
    }
}
