//! `verdict.json`: everything a gate found, as the reporters, `repro` and `report merge` read
//! it. The decision in it is made by `verdict` (`GateReport::decide`).

use std::time::Instant;

use serde::Serialize;

use super::{ExploreReport, ScenarioOutcome, SignoffState};
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Block,
    Unverified,
}

impl Decision {
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Allow => crate::exit::ALLOW,
            Decision::Block => crate::exit::BLOCK,
            Decision::Unverified => crate::exit::UNVERIFIED,
        }
    }
}

/// Share `index` (1-based) of `count`: the scenarios whose name hashes to it. A hash of the
/// name, not a position, so adding a scenario moves no other to another share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Partition {
    pub index: u32,
    pub count: u32,
}

/// `--partition` that is not `K/N` with 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a partition: write K/N with 1 ≤ K ≤ N, e.g. 2/3")]
pub struct PartitionError(pub String);

impl std::str::FromStr for Partition {
    type Err = PartitionError;
    fn from_str(s: &str) -> Result<Self, PartitionError> {
        let bad = || PartitionError(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// The share (1-based) a scenario belongs to, out of `count`.
    pub(crate) fn share_of(name: &str, count: u32) -> u32 {
        use sha2::Digest;
        let h = sha2::Sha256::digest(name.as_bytes());
        let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        1 + u32::try_from(n % u64::from(count.max(1))).unwrap_or(0)
    }

    pub fn contains(&self, name: &str) -> bool {
        Self::share_of(name, self.count) == self.index
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct GateTimings {
    pub plan_seconds: f64,
    /// Exporting head, `prepare:` commands, the tests of `nextest` steps.
    pub build_seconds: f64,
    /// Checking images by tag and building missing ones.
    pub images_seconds: f64,
    /// Starting, running and removing the scenarios' stacks (wall clock, `--jobs` at once).
    pub scenarios_seconds: f64,
    /// Summed over scenarios: stacks starting, faults + steps + checks, stacks removed.
    pub stacks_seconds: f64,
    pub runs_seconds: f64,
    pub teardown_seconds: f64,
    pub total_seconds: f64,
    /// Exploring the affected services, after the scenarios.
    #[serde(default)]
    pub explore_seconds: f64,
    /// Stacks started, reused after a reset, discarded after a failed one.
    #[serde(default)]
    pub stacks: PoolCounts,
}

/// What the gate's stack pool (`runner::pool`) did over a gate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PoolCounts {
    /// Stacks started (each checkpointed after its first start).
    pub started: usize,
    /// Scenarios that ran on a reset stack.
    pub reused: usize,
    /// Stacks discarded because a reset failed or a fingerprint differed.
    pub discarded: usize,
    /// Seconds spent resetting, summed.
    pub reset_seconds: f64,
}

/// A host command that ran for the gate (`prepare:`), with the end of its output.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct CommandLog {
    pub service: String,
    pub command: String,
    pub seconds: f64,
    /// The last lines of its output (stdout, then stderr).
    pub output: String,
    /// Where it ran: `a container`, or `the runner (isolation.on_runner: why)` when the
    /// base's configuration opted out of isolation.
    #[serde(default)]
    pub ran_in: String,
}

/// The run a report belongs to, so that `report merge` can tell shards of one gate from
/// shards of another: the commits, what the configuration was, and the plan. The shard's
/// index and count are [`GateReport::partition`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunBinding {
    /// The base commit's object id.
    pub base: String,
    /// The head commit's object id; `None` when the change is the working tree.
    pub head: Option<String>,
    /// SHA-256 of the configuration's revision's faultline.yaml and scenario files
    /// (`plan::config_digest`).
    pub config_digest: String,
    /// SHA-256 of the plan as verdict.json carries it ([`plan_digest`]).
    pub plan_digest: String,
}

/// SHA-256 of `plan` serialised as verdict.json carries it, in hex.
pub fn plan_digest(plan: &Plan) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(plan).unwrap_or_default();
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything the gate found: `verdict.json` is this, serialised.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GateReport {
    pub version: u32,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub seed: u64,
    pub plan: Option<Plan>,
    pub signoff: Option<SignoffState>,
    pub scenarios: Vec<ScenarioOutcome>,
    pub timings: GateTimings,
    /// The share this gate ran (`--partition`): the shard's index and count; the plan lists
    /// every selected scenario.
    #[serde(default)]
    pub partition: Option<Partition>,
    /// The run this report belongs to; `None` when the gate could not plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunBinding>,
    /// What exploration found, per explored service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exploration: Vec<ExploreReport>,
    /// The `prepare:` commands that ran on the host for this gate, with their output's end.
    #[serde(default)]
    pub prepare: Vec<CommandLog>,
}

impl GateReport {
    /// A report that has judged nothing yet: could not verify, until [`GateReport::decide`].
    pub(crate) fn new(seed: u64, partition: Option<Partition>) -> GateReport {
        GateReport {
            version: 1,
            decision: Decision::Unverified,
            reasons: Vec::new(),
            seed,
            plan: None,
            signoff: None,
            scenarios: Vec::new(),
            timings: GateTimings::default(),
            partition,
            run: None,
            prepare: Vec::new(),
            exploration: Vec::new(),
        }
    }

    /// A report that could not judge, and why: what is written when the gate cannot even
    /// start (an unreadable event file, an interruption, a failure of faultline itself).
    pub fn could_not_verify(seed: u64, partition: Option<Partition>, reason: String) -> GateReport {
        let mut r = GateReport::new(seed, partition);
        r.reasons = vec![reason];
        r
    }

    /// The report of `faultline run`: scenarios of the working tree, no plan, no sign-off.
    pub fn of_run(seed: u64, decision: Decision, reasons: Vec<String>, outcomes: Vec<ScenarioOutcome>) -> GateReport {
        let mut r = GateReport::new(seed, None);
        r.decision = decision;
        r.reasons = reasons;
        r.scenarios = outcomes;
        r
    }

    /// The gate could not judge: `reason` says why.
    pub(crate) fn unverified(mut self, reason: String, start: Instant) -> GateReport {
        self.decision = Decision::Unverified;
        self.reasons = vec![reason];
        self.scenarios = Vec::new();
        self.timings.total_seconds = start.elapsed().as_secs_f64();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::Partition;

    #[test]
    fn partitions_parse_and_shares_are_stable() {
        assert_eq!("2/3".parse::<Partition>(), Ok(Partition { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        let names: Vec<String> = (0..200).map(|i| format!("scenario-{i}")).collect();
        let shares: Vec<u32> = names.iter().map(|n| Partition::share_of(n, 4)).collect();
        assert!(shares.iter().all(|s| (1..=4).contains(s)));
        for k in 1..=4 {
            let n = shares.iter().filter(|s| **s == k).count();
            assert!((25..=75).contains(&n), "share {k} has {n} of 200");
        }
        // A share depends on the name only: the same name, the same share, whatever else exists.
        assert_eq!(Partition::share_of("payments-slow", 4), Partition::share_of("payments-slow", 4));
        let p = Partition { index: Partition::share_of("x", 3), count: 3 };
        assert!(p.contains("x"));
    }
}
