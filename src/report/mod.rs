//! The last stage: what people and machines read. So far, the plan and an edge's observations.

pub mod edge;
pub mod plan;
