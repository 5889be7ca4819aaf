//! The last stage: what people and machines read. So far, the plan.

pub mod plan;
