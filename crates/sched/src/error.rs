//! The one error type of the crate.

use thiserror::Error;

/// Everything that can go wrong while parsing, validating or planning.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SchedError {
    #[error("workflow json is invalid: {0}")]
    WorkflowJson(String),
    #[error("workflow dax is invalid: {0}")]
    WorkflowDax(String),
    #[error("platform toml is invalid: {0}")]
    PlatformToml(String),
    #[error("workflow format {0} is unknown (expected wfformat, dax or dag)")]
    UnknownFormat(String),
    #[error("algorithm {0} is unknown (expected heft or purser)")]
    UnknownAlgorithm(String),
    #[error("task {task} is invalid: {reason}")]
    InvalidTask { task: String, reason: String },
    #[error("task {task} depends on unknown task {parent}")]
    UnknownParent { task: String, parent: String },
    #[error("task id {0} appears twice")]
    DuplicateTask(String),
    #[error("workflow has a cycle through task {0}")]
    Cycle(String),
    #[error("pool {pool} is invalid: {reason}")]
    InvalidPool { pool: String, reason: String },
    #[error("platform is invalid: {0}")]
    InvalidPlatform(String),
    #[error("task {task} fits on no pool")]
    NoPoolFits { task: String },
    #[error("explicit runtimes are invalid: {0}")]
    ExplicitRuntimes(String),
    #[error("weights are invalid: {0}")]
    InvalidWeights(String),
    #[error("task state transition {from} -> {to} is illegal")]
    IllegalTransition { from: String, to: String },
    #[error(
        "request of {requested} {dimension} for tenant {tenant} on pool {pool} is outside [{min}, {max}]"
    )]
    LimitRange {
        tenant: String,
        pool: String,
        dimension: String,
        requested: u64,
        min: u64,
        max: u64,
    },
    #[error("quota for tenant {tenant} on pool {pool} {dimension} is invalid: {reason}")]
    InvalidQuota {
        tenant: String,
        pool: String,
        dimension: String,
        reason: String,
    },
    #[error("tenant {0} has no quota")]
    UnknownTenant(String),
    #[error("amount overflows for {0}")]
    Overflow(String),
    #[error("simulation of {0} did not settle within its bound")]
    SimulationBound(String),
}
