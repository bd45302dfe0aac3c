//! Events: the facts the journal keeps about DAGs, with what they fix (validated, resolved).

use serde::{Deserialize, Serialize};

use super::TaskRef;
use super::charge::{OpenCharge, Unaffordable};
use crate::resources::{CUSTOM_DIMS_MAX, Resources};
use crate::state::TaskState;

/// A task as the event of its DAG's submission fixes it: validated and resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub name: String,
    pub runtime_ms: u64,
    /// The effective request (limit-range defaults applied).
    pub requests: Resources,
    /// Bit `p` set: the task may run on pool `p`.
    pub pools: u64,
    pub parents: Vec<u32>,
    pub priority: i32,
    pub checkpointing: bool,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagSubmitted {
    pub dag: u64,
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    pub tasks: Vec<TaskSpec>,
    pub at_ms: u64,
}

/// One transition of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMove {
    pub task: TaskRef,
    #[serde(with = "state_code")]
    pub from: TaskState,
    #[serde(with = "state_code")]
    pub to: TaskState,
    /// The machine the task is placed on, runs on, or just left.
    pub machine: Option<u32>,
    /// Into SCHEDULED or RUNNING: the deadline of the placement or the lease.
    pub lease_expires_ms: u64,
    /// Into FAILED: why.
    pub error: Option<String>,
    pub at_ms: u64,
}

/// The facts the journal keeps about DAGs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DagEvent {
    Submitted(Box<DagSubmitted>),
    Moved(TaskMove),
    LeaseRenewed {
        task: TaskRef,
        lease_expires_ms: u64,
        at_ms: u64,
    },
    Checkpointed {
        task: TaskRef,
        checkpoint: String,
        lease_expires_ms: u64,
        at_ms: u64,
    },
    /// A finished DAG was dropped to make room.
    Forgotten {
        dag: u64,
        at_ms: u64,
    },
    // New kinds go at the end: old journals keep decoding.
    /// The DAG just submitted is charged to `account`; `tasks` names the tasks that pay from
    /// an account of their own (index, path), in task order.
    Accounted {
        dag: u64,
        account: String,
        tasks: Vec<(u32, String)>,
        at_ms: u64,
    },
    /// The placement that follows took a hold of its attempt's estimated cost.
    Charged {
        task: TaskRef,
        charge: OpenCharge,
        at_ms: u64,
    },
    /// A charged attempt ended (the task left its machine): what it ran and costs, to settle
    /// its hold with.
    AttemptEnded {
        task: TaskRef,
        attempt: u32,
        reservation: u64,
        cost_micros: u64,
        time_ms: u64,
        at_ms: u64,
    },
    /// The budget refused the next task of a charged DAG: no attempt of it starts until one
    /// can be afforded.
    Paused {
        dag: u64,
        why: Unaffordable,
        at_ms: u64,
    },
    /// A paused DAG's task could be afforded again.
    Resumed {
        dag: u64,
        at_ms: u64,
    },
    /// The DAG just submitted has tasks that request custom dimensions (by the configuration's
    /// index), in task order.
    CustomRequests {
        dag: u64,
        tasks: Vec<(u32, [u64; CUSTOM_DIMS_MAX])>,
        at_ms: u64,
    },
    /// The DAG just submitted has tasks that use an API: (task, requests, tokens) per attempt,
    /// in task order.
    ApiUses {
        dag: u64,
        tasks: Vec<(u32, u64, u64)>,
        at_ms: u64,
    },
}

impl DagEvent {
    /// The task transition this event is, if it is one (what `task` server-sent events show).
    pub fn task_move(&self) -> Option<&TaskMove> {
        match self {
            DagEvent::Moved(moved) => Some(moved),
            _ => None,
        }
    }
}

/// TaskState as its index in [`TaskState::ALL`]: state.rs has no serde, and a byte is enough.
pub(crate) mod state_code {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::state::TaskState;

    pub fn serialize<S: Serializer>(state: &TaskState, serializer: S) -> Result<S::Ok, S::Error> {
        let code = TaskState::ALL
            .iter()
            .position(|candidate| candidate == state)
            .expect("every state is in ALL");
        serializer.serialize_u8(code as u8)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TaskState, D::Error> {
        let code = u8::deserialize(deserializer)?;
        TaskState::ALL
            .get(code as usize)
            .copied()
            .ok_or_else(|| serde::de::Error::custom(format!("task state code {code} is unknown")))
    }
}
