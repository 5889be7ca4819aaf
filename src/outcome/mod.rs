//! What a run found, as plain data: each scenario's steps, checks, fault windows and edges
//! (`ScenarioOutcome`), exploration's experiments (`ExploreReport`), the sign-off record and
//! the whole gate's report (`GateReport`, which `verdict.json` is, serialised).
//!
//! The producers (`runner`, `runner::pool`, `runner::fault_search`, `stack`, `gate`) write these
//! types and the readers (`verdict`, `report`, `repro`) read them, so the module depends on
//! none of them: only on `plan` (the plan a report carries), `fault` (what crossed an edge,
//! `Observations`, plain records of a module that depends on nothing of faultline) and
//! `scenario::experiments::Mode`. The serialised field names are a contract: `report merge` and
//! `repro` read them back from the files CI kept.
//!
//! One rule judges a scenario from what it observed, [`ScenarioOutcome::judge`]; the runner
//! and `report merge` both call it, so a merged verdict is the unsharded gate's.

pub mod differential;
mod explore;
pub mod family;
mod gate_report;
mod scenario;
mod signoff;

pub use explore::{
    Accepted, BaseDeadline, ClientDeadline, Compared, Differential, ExperimentResult, ExploreReport, ExploreShare,
    NotExercised, OutageSeen, Split,
};
pub use gate_report::{
    CommandLog, Decision, GateReport, GateTimings, Partition, PartitionError, PoolCounts, RunBinding, plan_digest,
};
pub use scenario::{Answered, CheckOutcome, FaultWindow, ScenarioOutcome, StackUse, Status, StepOutcome};
pub use signoff::{Approval, AreaSignoff, IgnoredApproval, SignoffState};
