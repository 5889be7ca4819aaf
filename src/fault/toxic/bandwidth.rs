//! `bandwidth`: at most `bytes_per_sec` pass, in slices of a tenth of a second's worth.

use std::time::Duration;

use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Cx, Step, Toxic, map_writes};
use crate::fault::spec::{EdgeFault, Effect};

/// `bandwidth: 64` (KiB/s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSpec {
    /// Limit throughput to this many kilobytes per second.
    pub bandwidth: u64,
}

impl EdgeFault for BandwidthSpec {
    const NAME: &'static str = "bandwidth";
    const KEYS: &'static [&'static str] = &["bandwidth"];

    type Error = BandwidthError;

    fn effect(&self) -> Result<Effect, BandwidthError> {
        match self.bandwidth {
            0 => Err(BandwidthError::Zero),
            kbps => Ok(Effect::toxic(Bandwidth { bytes_per_sec: kbps * 1024 })),
        }
    }
}

/// Bandwidth that makes no fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BandwidthError {
    #[error("a bandwidth of 0 passes nothing: use `blackhole: true`")]
    Zero,
}

#[derive(Debug)]
pub(crate) struct Bandwidth {
    pub bytes_per_sec: u64,
}

impl Toxic for Bandwidth {
    fn slows(&self) -> bool {
        true
    }

    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        let slice = (self.bytes_per_sec / 10).max(1) as usize;
        let rate = self.bytes_per_sec as f64;
        let state = &mut *cx.state;
        let now = cx.now;
        map_writes(steps, |mut b: Bytes| {
            let mut out = Vec::new();
            while !b.is_empty() {
                let part = b.split_to(slice.min(b.len()));
                let start = state.free_at.max(now);
                state.free_at = start + Duration::from_secs_f64(part.len() as f64 / rate);
                out.push(Step::SleepUntil(start));
                out.push(Step::Write(part));
            }
            // The last slice's time on the wire is paid before the next chunk starts.
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
    fn spreads_data_over_time_at_the_rate() {
        let t = Bandwidth { bytes_per_sec: 100 };
        let now = Instant::now();
        let mut st = ConnState::new(now);
        let steps = testing::run(&t, &mut st, now, b"0123456789012345678901234");
        assert_eq!(testing::written(&steps), b"0123456789012345678901234");
        // 25 bytes at 100 B/s: three slices of 10, 10, 5 starting at 0, 100 and 200 ms.
        let starts: Vec<_> =
            steps.iter().filter_map(|s| if let Step::SleepUntil(t) = s { Some(*t - now) } else { None }).collect();
        assert_eq!(starts, [Duration::ZERO, Duration::from_millis(100), Duration::from_millis(200)]);
        assert_eq!(st.free_at - now, Duration::from_millis(250));
    }
}
