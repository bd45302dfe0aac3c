//! Why the live state refused a command. Each variant is something a caller can act on.

use super::TaskRef;

/// A request a pool refused: which task, tenant, pool and dimension, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `tasks[3].requests.cores`.
    pub field: String,
    pub task: String,
    pub tenant: String,
    pub pool: String,
    /// `cores`, `memory_bytes`, `gpu` or a custom dimension's name.
    pub dimension: String,
    pub requested: u64,
    /// What there is: a machine's size for `NoPoolFits`.
    pub available: Option<u64>,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DagError {
    /// Bad input, naming the field (`tasks[3].depends_on[0]`).
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// A name nothing knows: a request's dimension no pool offers.
    #[error("{message}")]
    UnknownField { field: String, message: String },
    #[error(
        "task {} of tenant {} requests {} {} on pool {}, {}",
        .0.task, .0.tenant, .0.requested, .0.dimension, .0.pool, .0.why
    )]
    LimitRange(Box<Refusal>),
    #[error(
        "task {} of tenant {} requests {} {}, {}",
        .0.task, .0.tenant, .0.requested, .0.dimension, .0.why
    )]
    NoPoolFits(Box<Refusal>),
    #[error(
        "task {} of tenant {} requests {} {} on pool {}, more than its quota can ever admit: {}",
        .0.task, .0.tenant, .0.requested, .0.dimension, .0.pool, .0.why
    )]
    Quota(Box<Refusal>),
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
    /// `why`: the reason it left RUNNING, when one was given (cancelled, preempted, failed).
    #[error("task {task} is {state}, not RUNNING{}", .why.as_ref().map(|why| format!(" ({why})")).unwrap_or_default())]
    NotRunning {
        task: TaskRef,
        state: &'static str,
        why: Option<String>,
    },
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
            DagError::UnknownField { .. } => "unknown_field",
            DagError::LimitRange(_) => "limit_range",
            DagError::NoPoolFits(_) => "no_pool_fits",
            DagError::Quota(_) => "quota_exceeded",
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

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> DagError {
        DagError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}
