//! faultline: a merge gate that starts the services a change can hurt, breaks their
//! dependencies on purpose, and lets the change merge only if the system still behaves.
//!
//! The library is laid out as the pipeline it runs, one stage a module, data flowing one way:
//!
//! ```text
//! change ──► impact ──► plan ──► stack ──► fault ──► runner ──► verdict ──► report
//!    ▲          ▲         ▲                              ▲
//!  config, repo (read by every stage)          scenario (the catalogue: model, templates,
//!                                                        validation, authoring)
//! ```
//!
//! `plan::Planned::executable` is the last place that reads git or YAML: the gate, `run`,
//! `explore` and `repro` execute the `plan::Executable` it returns. The runner reports typed
//! `runner::event::Event`s; what a run found is plain data in `outcome`, judged by one rule
//! (`outcome::ScenarioOutcome::judge`) and decided by `verdict`.
//!
//! Where to add a kind:
//! - a fault on an edge: one file in `fault/toxic/` (its parameters, their checks, its
//!   effect) and one row of `edge_faults!` in `fault/spec.rs`;
//! - a container fault: one file in `fault/container/` (apply and undo as engine
//!   operations) and one row of its table there;
//! - a check: one file in `scenario/check/` (its keys, validation, `explain` and `judge`)
//!   and one row of `check_kinds!` in `scenario/check/mod.rs`.
//!
//! See `docs/ARCHITECTURE.md` for the types passed between stages and where to add things.

pub mod bounded;
pub mod change;
pub mod codehost;
pub mod config;
pub mod corpus;
pub mod demo;
pub mod dockerignore;
pub mod fault;
pub mod gate;
pub(crate) mod impact;
pub mod init;
pub mod outcome;
pub mod plan;
pub mod repo;
pub mod report;
pub mod repro;
pub mod runner;
pub mod scenario;
pub mod stack;
pub mod verdict;

/// Exit codes, the contract with CI.
pub mod exit {
    /// The change may merge (or, for `plan`, the plan was made).
    pub const ALLOW: i32 = 0;
    /// The change is blocked.
    pub const BLOCK: i32 = 1;
    /// faultline could not verify the change (bad configuration, git error, no Docker, …).
    /// The gate fails closed: this blocks too.
    pub const UNVERIFIED: i32 = 2;
}
