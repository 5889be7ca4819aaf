//! `reset`: the connection is reset (TCP RST) `after` the toxic starts to apply to it.

use std::time::{Duration, Instant};

use super::{ConnState, Cx, Step, Toxic};

#[derive(Debug)]
pub struct Reset {
    pub after: Duration,
}

impl Toxic for Reset {
    fn on_data(&self, steps: Vec<Step>, cx: &mut Cx<'_>) -> Vec<Step> {
        if cx.now >= cx.state.since + self.after { vec![Step::Reset] } else { steps }
    }

    fn deadline(&self, state: &ConnState) -> Option<(Instant, Step)> {
        Some((state.since + self.after, Step::Reset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::toxic::testing;

    #[test]
    fn resets_once_due() {
        let now = Instant::now();
        let mut st = ConnState::new(now);
        assert_eq!(testing::run(&Reset { after: Duration::ZERO }, &mut st, now, b"x"), [Step::Reset]);
        let later = Reset { after: Duration::from_secs(1) };
        assert_eq!(testing::written(&testing::run(&later, &mut st, now, b"x")), b"x");
        assert_eq!(later.deadline(&st), Some((now + Duration::from_secs(1), Step::Reset)));
    }
}
