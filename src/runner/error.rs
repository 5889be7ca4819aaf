//! What keeps the runner from preparing the change or from carrying out a scenario.

use super::nextest::NextestError;
use crate::fault::FaultError;
use crate::stack::StackError;

/// Why the change could not be prepared: its `prepare:` commands, the tests of `nextest`
/// steps, its images.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Nextest(#[from] NextestError),
    /// The tests of a scenario's `nextest` step did not build or select nothing.
    #[error("{scenario}: {error}")]
    Tests { scenario: String, error: NextestError },
    #[error(transparent)]
    Stack(#[from] StackError),
}

/// Why a fault could not be applied or undone, or a step could not be carried out: the
/// scenario could not be verified.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error("no edge {from} -> {to}")]
    NoEdge { from: String, to: String },
    #[error(transparent)]
    Nextest(#[from] NextestError),
}
