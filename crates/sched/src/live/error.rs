//! Why the live state refused a command. Each variant is something a caller can act on.

use super::TaskRef;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DagError {
    /// Bad input, naming the field (`tasks[3].depends_on[0]`).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(
        "task {task} of tenant {tenant} requests {requested} {dimension} on pool {pool}, outside [{min}, {max}]"
    )]
    LimitRange {
        field: String,
        task: String,
        tenant: String,
        pool: String,
        dimension: &'static str,
        requested: u64,
        min: u64,
        max: u64,
    },
    #[error(
        "task {task} of tenant {tenant} requests {requested} {dimension}, more than a machine offers (pool {pool} has {available})"
    )]
    NoPoolFits {
        field: String,
        task: String,
        tenant: String,
        pool: String,
        dimension: &'static str,
        requested: u64,
        available: u64,
    },
    #[error(
        "task {task} of tenant {tenant} requests {requested} {dimension} on pool {pool}, more than its quota can ever admit: {reason}"
    )]
    Quota {
        field: String,
        task: String,
        tenant: String,
        pool: String,
        dimension: &'static str,
        requested: u64,
        reason: &'static str,
    },
    #[error("no pool is configured: add [[pool]] sections to the server's config")]
    NoPools,
    #[error("{what} are at their limit of {limit}, and no finished dag can be forgotten")]
    LimitReached { what: &'static str, limit: usize },
    #[error("dag dag_{0} not found")]
    DagNotFound(u64),
    #[error("task {0} not found")]
    TaskNotFound(TaskRef),
    #[error("worker {0} not found: a worker id is a machine of a configured pool, POOL-INDEX")]
    WorkerNotFound(String),
    #[error("task {task} is {state}, not RUNNING")]
    NotRunning { task: TaskRef, state: &'static str },
    #[error("task {task}: attempt {given} is over, attempt {current} holds the lease")]
    StaleAttempt {
        task: TaskRef,
        given: u32,
        current: u32,
    },
    #[error("task {task} does not checkpoint (submit it with checkpointing set)")]
    NotCheckpointing { task: TaskRef },
    #[error("replay: {0}")]
    Replay(String),
    #[error("scheduler config: {0}")]
    Config(String),
}

impl DagError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            DagError::Invalid { .. } => "invalid_field",
            DagError::LimitRange { .. } => "limit_range",
            DagError::NoPoolFits { .. } => "no_pool_fits",
            DagError::Quota { .. } => "quota_exceeded",
            DagError::NoPools => "no_pools",
            DagError::LimitReached { .. } => "limit_reached",
            DagError::DagNotFound(_) => "dag_not_found",
            DagError::TaskNotFound(_) => "task_not_found",
            DagError::WorkerNotFound(_) => "worker_not_found",
            DagError::NotRunning { .. } => "task_not_running",
            DagError::StaleAttempt { .. } => "stale_attempt",
            DagError::NotCheckpointing { .. } => "not_checkpointing",
            DagError::Replay(_) => "replay",
            DagError::Config(_) => "config",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> DagError {
        DagError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
