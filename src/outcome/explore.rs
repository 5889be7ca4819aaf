//! What exploring a service found (`runner::fault_search` produces it), as `verdict.json` holds it.

use super::{Partition, ScenarioOutcome, Status};
use crate::scenario::experiments::{Mode, OutagePlan};

/// What exploring one service found.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExploreReport {
    pub service: String,
    pub seed: u64,
    /// Why exploration could not judge the service (no valid workload, a reference run that
    /// fails without any fault); nothing else is meaningful then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The edges explored: those the reference passes used, then those that carried traffic
    /// only while another fault was on (`a -> c (while down on a -> b)`).
    pub edges: Vec<String>,
    /// Passes of the workload the reference took to see traffic on every declared edge of
    /// the stack (1, or at most `runner::fault_search::REFERENCE_PASSES`; 0 in reports
    /// written before it existed).
    #[serde(default)]
    pub reference_passes: u32,
    /// Declared edges of the explored service's stack that carried no traffic in any pass of
    /// the reference nor during any experiment: never faulted, so exploration says nothing
    /// about them (a warning in every report; could not verify where the rule's
    /// `unexercised` says `unverified`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_exercised: Vec<NotExercised>,
    /// Each client's own deadline on each HTTP edge explored, as the dependency held past the
    /// workload's deadline showed it (institutional knowledge: "orders gives payments 2.0 s,
    /// then retries twice"), in the order of the edges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deadlines: Vec<ClientDeadline>,
    /// Experiments generated.
    pub planned: usize,
    /// Experiments that ran, in the order they were generated.
    pub ran: Vec<ExperimentResult>,
    /// Experiments left out by reduction, with why.
    pub skipped: Vec<(String, String)>,
    /// Experiments not run: the budget left no time for them, or (in the gate) a failure
    /// was found already.
    pub unexplored: Vec<String>,
    /// Of `unexplored`, those on the edges of a service the change touched (or on such a
    /// service itself): part of what the change touched was not explored (could not verify
    /// unless the rule's `partial_exploration` is `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexplored_touched: Vec<String>,
    pub seconds: f64,
    /// Under `--partition`: which part of the exploration this shard ran, and the catalogue
    /// every shard must agree on (`report merge` combines the parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ExploreShare>,
}

/// The part of a service's exploration one shard ran (`gate --partition K/N`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExploreShare {
    /// The shard.
    pub partition: Partition,
    /// Every experiment of the service's catalogue, by name, in the order generated: what
    /// the shards' reference runs gave; shards that disagree cannot be combined.
    pub catalogue: Vec<String>,
    pub split: Split,
}

/// How a service's experiments are split across the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Each shard ran the experiments of its share ([`Partition::holds_experiment`]).
    Experiments,
    /// One shard ran them all: the reference left a declared edge without traffic, and the
    /// fallbacks that explore it are chosen from every experiment's results.
    Whole { shard: u32 },
}

impl Partition {
    /// Whether the experiment `name` is this shard's to run: its lineage's share
    /// ([`crate::scenario::experiments::lineage`]), so that an experiment skipped because its
    /// twin failed is skipped in the shard that ran the twin, as it is unsharded.
    pub fn holds_experiment(&self, name: &str) -> bool {
        Self::share_of(&crate::scenario::experiments::lineage(name), self.count) == self.index
    }
}

/// A declared edge exploration never saw traffic on, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotExercised {
    /// `a -> b`.
    pub edge: String,
    /// What ran without traffic on it.
    pub why: String,
}

/// A client's own deadline on an HTTP edge, found black box: with the dependency held past
/// the workload's deadline (`slow-past-deadline`, one request at a time), how long the client
/// waited for an attempt before it went away, and how many attempts it made per call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientDeadline {
    /// `client -> dependency`.
    pub edge: String,
    /// How long the client waited for one attempt before it gave up, in ms (the median over
    /// the attempts held, to two significant digits); `None` when it never gave up: it waited
    /// as long as the dependency was held, past the workload's deadline, so the workload's
    /// deadline is the only one on the edge.
    pub deadline_ms: Option<u64>,
    /// How long the dependency was held, in ms.
    pub held_ms: u64,
    /// Attempts per call of the dependency while it was held: 1 without retries.
    pub attempts: u32,
    /// Found on the base's run of the experiment: on the change's, the service answered
    /// before its client gave up and before the hold ended, so no held request was seen to
    /// its end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_base: bool,
    /// The base revision's client on the same edge, from the base's run of the same
    /// experiment (run, or recorded: `--base-results`), where it differs from the change's:
    /// its deadline not within 20 % of this one, or none where this has one (or the other
    /// way round), or other attempts. Where the base showed a deadline, the magnitudes are of
    /// the base's deadline, so that a change cannot move them by moving its own timeout; of
    /// this one too when it differs (`…-of-change`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseDeadline>,
}

/// The base revision's client deadline on an edge, where it differs from the change's
/// ([`ClientDeadline::base`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaseDeadline {
    /// As [`ClientDeadline::deadline_ms`], on the base: `None` when its client never gave up.
    pub deadline_ms: Option<u64>,
    /// Attempts per call of the dependency on the base.
    pub attempts: u32,
}

impl ClientDeadline {
    /// The client and the dependency.
    pub fn ends(&self) -> (&str, &str) {
        self.edge.split_once(" -> ").unwrap_or((self.edge.as_str(), ""))
    }
}

/// One experiment's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExperimentResult {
    pub class: String,
    pub on: String,
    pub mode: Mode,
    /// The fault on another edge at the same time, for an edge that carried traffic only
    /// while that fault was on (a fallback): `down on a -> b`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    pub outcome: ScenarioOutcome,
    /// The scenario file of a failed experiment, `why: TODO`, for `--write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The same experiment (same fault, same seed) on the base revision, compared with this
    /// one; `None` where there is no base to compare with (`faultline explore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<Compared>,
    /// The stable ID of this experiment's difference — worse than its base under the same
    /// fault, or unlike the rest of its family of faults — when it has one
    /// ([`ExperimentResult::difference_id`]); `faultline accept <ID>` in a senior's review (a note, on GitLab), or
    /// `--accept-difference ID`, accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<String>,
    /// Who accepted the difference, from a source the change cannot write: the failure is
    /// reported as accepted and does not block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// A sustained outage (`outage-sustained`): how long the edge was down and how many
    /// calls reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<OutageSeen>,
}

/// A sustained outage as it happened: its plan, how long the edge was down, the workload
/// requests sent meanwhile and the calls that reached the edge (on the change, and on the
/// base when it ran).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutageSeen {
    pub plan: OutagePlan,
    /// How long the edge refused connections, in ms.
    pub lasted_ms: u64,
    /// Workload requests that arrived at the service meanwhile.
    pub requests: usize,
    /// Calls that reached the edge meanwhile: connections it refused, and requests on
    /// connections opened before (which a refusal leaves alone). Fewer than `requests` times
    /// the calls per request of the reference: the service stopped calling (a breaker open).
    pub calls: usize,
    /// The same on the base's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_calls: Option<usize>,
}

impl OutageSeen {
    /// The outage on `edge` of an experiment on `service` planned as `plan`, from what the
    /// change's run (`head`) and the base's observed.
    pub fn of(
        plan: OutagePlan,
        edge: &str,
        service: &str,
        head: &ScenarioOutcome,
        base: Option<&ScenarioOutcome>,
    ) -> Self {
        let (lasted_ms, requests, calls) = outage_in(head, edge, service);
        OutageSeen { plan, lasted_ms, requests, calls, base_calls: base.map(|b| outage_in(b, edge, service).2) }
    }

    /// In a few words: `down 2.1 s, 100 workload requests, 40 calls reached the edge (the
    /// base's: 100; ≥ 100 offered: 10 × 1 in the reference, at least 100)`.
    pub fn said(&self) -> String {
        let p = &self.plan;
        let base = self.base_calls.map(|b| format!("the base's: {b}; ")).unwrap_or_default();
        let capped = if p.capped { ", capped by the ceiling" } else { "" };
        format!(
            "down {:.1} s, {} workload requests, {} calls reached the edge ({base}≥ {} offered: {} × {} in the reference, at least {}{capped})",
            self.lasted_ms as f64 / 1e3,
            self.requests,
            self.calls,
            p.target_calls,
            crate::scenario::experiments::OUTAGE_TIMES,
            p.reference_calls,
            crate::scenario::experiments::OUTAGE_FLOOR,
        )
    }
}

/// How long the fault on `edge` lasted in `o` (ms), the requests to `service` and the calls
/// on `edge` while it did (a refused connection is a call; so is a request).
fn outage_in(o: &ScenarioOutcome, edge: &str, service: &str) -> (u64, usize, usize) {
    let Some(w) = o.faults.iter().find(|f| f.on == edge) else { return (0, 0, 0) };
    let during = |name: &str, t: f64| t + o.edge_offsets_ms.get(name).copied().unwrap_or(0.0);
    let within = |t: f64| t >= w.start_ms && t <= w.end_ms;
    let ingress = format!("host -> {service}");
    let requests = o
        .edges
        .get(&ingress)
        .map_or(0, |obs| obs.requests.iter().filter(|r| within(during(&ingress, r.start_ms))).count());
    let calls = o.edges.get(edge).map_or(0, |obs| {
        let refused = obs
            .connections
            .iter()
            .filter(|c| c.outcome == crate::fault::observe::ConnOutcome::Refused)
            .filter(|c| within(during(edge, c.opened_ms)))
            .count();
        refused + obs.requests.iter().filter(|r| within(during(edge, r.start_ms))).count()
    });
    ((w.end_ms - w.start_ms).max(0.0).round() as u64, requests, calls)
}

/// A difference accepted: by whom, and where it was said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Accepted {
    /// A handle (`@alice`), an email, or `the command line`.
    pub by: String,
    /// `GitHub review of 1a2b3c4d5e`, `--accept-difference`.
    pub source: String,
}

/// An experiment's outcome on the change beside the same experiment on its base.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Compared {
    /// The base revision's outcome (of the last pair of runs).
    pub base: ScenarioOutcome,
    pub verdict: Differential,
    /// What differs, one line each (the change's worse or better answers, checks).
    pub differences: Vec<String>,
    /// Pairs of runs it took: a difference seen once is run again on both sides before it
    /// counts, so timing noise cannot block.
    pub pairs: u32,
    /// The tree whose recorded result stands for the base, when the base was not run
    /// (`--base-results`): the change was no worse than it, which alone a record may say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

/// What the change does under a fault, measured against its base under the same fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Differential {
    /// Nothing the oracles compare differs.
    Same,
    /// Some outcome is worse than on the base, in both pairs of runs: the change's doing.
    Worse,
    /// Some outcome is better, none worse.
    Better,
    /// The change fails here, and the base fails the same way: a weakness the system
    /// already has, reported, not blamed on the change.
    KnownWeakness,
    /// One side could not run the experiment: only the absolute oracles judge.
    Unjudged,
}

impl ExperimentResult {
    /// Whether this failure is one the base has too: its comparison says so, and the base's
    /// outcome failed (a shard cannot call a failure a weakness without a failing base).
    pub fn known_weakness(&self) -> bool {
        self.compared.as_ref().is_some_and(|c| {
            let mut base = c.base.clone();
            base.judge();
            c.verdict == Differential::KnownWeakness && base.status == Status::Failed
        })
    }
}

impl ExperimentResult {
    /// What makes this experiment a difference, by name only (no timing, no count): the
    /// steps and checks worse than on the base, and the family checks that failed
    /// ([`crate::outcome::family`]); empty when it is none.
    pub fn difference_items(&self) -> Vec<String> {
        let mut items = Vec::new();
        if let Some(c) = self.compared.as_ref().filter(|c| c.verdict == Differential::Worse) {
            items.extend(super::differential::worse_items(&self.outcome, &c.base));
        }
        let differs = |c: &&super::CheckOutcome| !c.passed && !c.unobserved && super::family::is_family_check(&c.check);
        for c in self.outcome.checks.iter().filter(differs) {
            items.push(c.check.clone());
        }
        items.sort();
        items.dedup();
        items
    }

    /// The stable ID of this experiment's difference (`d-` and 10 hex digits): made of the
    /// explored service, the edge, the fault, the mode, the other fault, and
    /// [`ExperimentResult::difference_items`], never of a timing, so the same difference
    /// has the same ID in every run and on every machine. `None` when there is no difference.
    pub fn difference_id(&self, service: &str) -> Option<String> {
        use sha2::Digest;
        let items = self.difference_items();
        if items.is_empty() {
            return None;
        }
        let text = format!(
            "{service}\n{}\n{}\n{:?}\n{}\n{}",
            self.on,
            self.class,
            self.mode,
            self.with.as_deref().unwrap_or(""),
            items.join("\n")
        );
        let digest = sha2::Sha256::digest(text.as_bytes());
        Some(format!("d-{}", digest.iter().take(5).map(|b| format!("{b:02x}")).collect::<String>()))
    }

    /// `class on edge`, and the other fault when there was one.
    pub fn what(&self) -> String {
        let mode = self.outage.as_ref().map_or_else(|| self.mode.to_string(), OutageSeen::said);
        match &self.with {
            Some(w) => format!("{} on {} ({mode}, while {w})", self.class, self.on),
            None => format!("{} on {} ({mode})", self.class, self.on),
        }
    }
}

impl ExploreReport {
    /// Experiments that failed, weaknesses the base shares and accepted differences excepted.
    pub fn failed(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Failed && !r.known_weakness() && r.accepted.is_none())
    }

    /// Experiments that failed by a difference a senior accepted: reported, not blocking.
    pub fn accepted(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Failed && !r.known_weakness() && r.accepted.is_some())
    }

    /// Experiments that failed the same way on the base: weaknesses the system already has.
    pub fn known_weaknesses(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Failed && r.known_weakness())
    }

    /// Experiments that could not run (a stack that did not come up, a fault that could not
    /// be applied): the service was not explored as planned.
    pub fn errors(&self) -> impl Iterator<Item = &ExperimentResult> {
        self.ran.iter().filter(|r| r.outcome.status == Status::Error)
    }
}
