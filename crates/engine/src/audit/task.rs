//! Audit entries of committed DAG events: each task's move, under its DAG's tenant (an account
//! path, so that a prefix filters them), also one `task` event of the stream.

use std::borrow::Cow;

use purser_sched::{DagEvent, DagState, TaskState};
use serde_json::json;

use super::AuditEntry;
use crate::time::rfc3339;

/// The entry of a DAG event journaled at `seq`: task moves, and a DAG paused or resumed by
/// its budget. `state` is read after the event was applied, for the names of the task and of
/// its machine.
pub fn task_entry(state: &DagState, seq: u64, event: &DagEvent) -> Option<AuditEntry> {
    match event {
        DagEvent::Paused { dag, why, at_ms } => {
            let reason = format!(
                "dag_{dag} paused: its next task needs {} {} on {}, which has {} left before its stop threshold",
                why.needed, why.dimension, why.account, why.available
            );
            let data = json!({
                "dag": format!("dag_{dag}"),
                "state": "paused",
                "account": why.account,
                "dimension": why.dimension,
                "needed": why.needed,
                "available": why.available,
            });
            return Some(dag_entry(state, seq, *dag, *at_ms, reason, data));
        }
        DagEvent::Resumed { dag, at_ms } => {
            let reason = format!("dag_{dag} resumed: its budget affords its next task");
            let data = json!({"dag": format!("dag_{dag}"), "state": "running"});
            return Some(dag_entry(state, seq, *dag, *at_ms, reason, data));
        }
        _ => {}
    }
    let moved = event.task_move()?;
    let name = state
        .task(moved.task)
        .map(|(_, task)| task.spec.name.clone());
    let tenant = state.dag(moved.task.dag).map(|dag| dag.tenant.clone());
    let machine = moved.machine.map(|machine| state.machine_name(machine));
    // The clock's tick places tasks and takes back lapsed leases; workers do the rest.
    let by_clock = matches!(
        (moved.from, moved.to),
        (TaskState::Eligible, TaskState::Scheduled)
            | (TaskState::Scheduled, TaskState::Eligible)
            | (TaskState::Running, TaskState::Preempted)
            | (TaskState::Preempted, TaskState::Eligible)
    );
    let on_machine = machine
        .as_ref()
        .map(|machine| format!(" on {machine}"))
        .unwrap_or_default();
    let why = moved
        .error
        .as_ref()
        .map(|why| format!(": {why}"))
        .unwrap_or_default();
    let reason = format!(
        "task {} of dag_{} moved from {} to {}{on_machine}{why}",
        moved.task,
        moved.task.dag,
        moved.from.name(),
        moved.to.name(),
    );
    let data = json!({
        "dag": format!("dag_{}", moved.task.dag),
        "task": moved.task.to_string(),
        "name": name,
        "from": moved.from.name(),
        "to": moved.to.name(),
        "machine": machine,
        "error": moved.error,
        "at": rfc3339(moved.at_ms),
    });
    Some(AuditEntry {
        seq,
        at: rfc3339(moved.at_ms),
        kind: "task",
        account: tenant,
        actor: Cow::Borrowed(if by_clock { "clock" } else { "api" }),
        reason,
        data,
        streamed: true,
        level: None,
    })
}

/// An entry about a whole DAG, under its account (its tenant when it has none).
fn dag_entry(
    state: &DagState,
    seq: u64,
    dag: u64,
    at_ms: u64,
    reason: String,
    data: serde_json::Value,
) -> AuditEntry {
    let account = state
        .charge(dag)
        .map(|charge| charge.account.clone())
        .or_else(|| state.dag(dag).map(|found| found.tenant.clone()));
    AuditEntry {
        seq,
        at: rfc3339(at_ms),
        kind: "dag",
        account,
        actor: Cow::Borrowed("budget"),
        reason,
        data,
        streamed: true,
        level: None,
    }
}
