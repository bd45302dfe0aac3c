//! Commands to the live state and their answers: what requests ask, before validation.

use super::TaskRef;
use crate::resources::Resources;

/// A task as submitted, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub name: String,
    pub runtime_ms: u64,
    /// Zero dimensions take the limit range's default; no cores at all means one core.
    pub requests: Resources,
    pub depends_on: Vec<String>,
    /// None: the DAG's priority.
    pub priority: Option<i32>,
    pub checkpointing: bool,
    pub max_attempts: Option<u32>,
    /// The account its machine time is charged to when not the DAG's (one below it: the
    /// caller checks that).
    pub account: Option<String>,
    /// What it needs besides a machine: an external API's requests and tokens, or a person.
    pub needs: TaskNeeds,
    /// Custom dimensions by name (`licenses`): resolved against the pools' at submission.
    pub custom_requests: Vec<(String, u64)>,
}

/// What a task needs besides a machine. A task that uses an API runs on an API pool, one that
/// needs a person on a people pool, any other on machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskNeeds {
    /// API requests and tokens one attempt uses (counted when it is placed).
    pub requests: u64,
    pub tokens: u64,
    /// A review, an approval: only people do it, within their working hours.
    pub person: bool,
}

impl TaskNeeds {
    pub fn uses_api(&self) -> bool {
        self.requests > 0 || self.tokens > 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubmitDag {
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    pub tasks: Vec<TaskRequest>,
    /// The account the DAG's machine time is charged to; None: not charged.
    pub account: Option<String>,
}

/// What a command asks of the live state.
#[derive(Debug, Clone, PartialEq)]
pub enum DagCommand {
    Submit(SubmitDag),
    /// A worker asks for the next task placed on its machine.
    Lease {
        worker: String,
    },
    /// `attempt`, when given, must be the current one: a worker whose lease ran out cannot
    /// touch the next attempt.
    Heartbeat {
        task: TaskRef,
        attempt: Option<u32>,
    },
    Checkpoint {
        task: TaskRef,
        attempt: Option<u32>,
        checkpoint: String,
    },
    Complete {
        task: TaskRef,
        attempt: Option<u32>,
    },
    Fail {
        task: TaskRef,
        attempt: Option<u32>,
        error: String,
        retryable: bool,
    },
    /// The clock: leases and placements past their deadline go back, then placement runs.
    Tick,
    /// Every task of the DAG not closed yet is CANCELLED; a worker running one learns it at
    /// its next heartbeat.
    Cancel {
        dag: u64,
        reason: String,
    },
    /// The machine of `worker` was taken away (a spot interruption, or it went down): what
    /// runs or waits there goes back to ELIGIBLE, resuming from its checkpoint, and the
    /// machine takes nothing until its worker leases again.
    Interrupted {
        worker: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum DagAnswer {
    Submitted {
        dag: u64,
        duplicate: bool,
    },
    Leased(Option<TaskRef>),
    Task(TaskRef),
    Ticked {
        expired: usize,
        placed: usize,
    },
    /// How many tasks the cancel closed (0 when the DAG had finished).
    Cancelled {
        dag: u64,
        n_cancelled: usize,
    },
    /// How many tasks went back to ELIGIBLE.
    Interrupted {
        machine: u32,
        n_returned: usize,
    },
}
