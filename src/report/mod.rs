//! The last stage: what people and machines read: the plan, an edge's observations, scenario
//! outcomes and the verdict.

pub mod edge;
pub mod html;
pub mod junit;
pub mod merge;
pub mod plan;
pub mod summary;
pub mod verdict;
