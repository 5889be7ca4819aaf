//! `slicer`: data is cut into slices of `average ± variation` bytes, written `delay` apart.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;

use super::{Cx, Step, Toxic, map_writes};

#[derive(Debug)]
pub struct Slicer {
    pub average: usize,
    pub variation: usize,
    pub delay: Duration,
}

impl Toxic for Slicer {
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
