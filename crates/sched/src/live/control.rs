//! Decisions that take tasks back: cancelling a DAG, a machine interrupted under its worker, and
//! priority preemption of borrowed quota (the rule of `crate::preempt`, on live tasks).

use super::{Budget, DagAnswer, DagError, DagEvent, DagState, TaskRef};
use crate::preempt::{QuotaHolder, preemptions};
use crate::quota::Quotas;
use crate::state::TaskState;

use super::evolve::is_closed;

/// Denied tasks one placement pass tries to make room for by preemption: a bound on its work.
pub(crate) const PREEMPTORS_PER_PASS: usize = 16;

/// A task the quotas refused in a placement pass, and the pool it wanted.
pub(crate) struct Denied {
    pub task: TaskRef,
    pub pool: usize,
}

impl DagState {
    pub(crate) fn cancel(
        &mut self,
        dag: u64,
        reason: String,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> Result<DagAnswer, DagError> {
        self.check_reason(&reason)?;
        let found = self.dags.get(&dag).ok_or(DagError::DagNotFound(dag))?;
        let open: Vec<TaskRef> = found
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, task)| !is_closed(task.state))
            .map(|(task_idx, _)| TaskRef {
                dag,
                task: task_idx as u32,
            })
            .collect();
        for &task in &open {
            let mut moved = self.move_of(task, TaskState::Cancelled, now_ms);
            moved.error = Some(format!("cancelled: {reason}"));
            self.emit(DagEvent::Moved(moved), events);
        }
        // What the cancelled tasks held is free: place into it now.
        if !open.is_empty() {
            self.place(now_ms, events, budget);
        }
        Ok(DagAnswer::Cancelled {
            dag,
            n_cancelled: open.len(),
        })
    }

    pub(crate) fn interrupted(
        &mut self,
        worker: &str,
        reason: String,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> Result<DagAnswer, DagError> {
        self.check_reason(&reason)?;
        let machine = self
            .worker_machine(worker)
            .ok_or_else(|| DagError::WorkerNotFound(worker.to_string()))?;
        // Soft state: the machine takes nothing until its worker (or its replacement) leases.
        self.machines[machine as usize].present_until_ms = 0;
        let on_machine: Vec<TaskRef> = self
            .expiry
            .iter()
            .map(|&(_, task)| task)
            .filter(|&task| {
                self.task(task)
                    .is_some_and(|(_, live)| live.machine == Some(machine))
            })
            .collect();
        let why = format!(
            "machine {} interrupted: {reason}",
            self.machine_name(machine)
        );
        for &task in &on_machine {
            self.requeue(task, &why, now_ms, events);
        }
        if !on_machine.is_empty() {
            self.place(now_ms, events, budget);
        }
        Ok(DagAnswer::Interrupted {
            machine,
            n_returned: on_machine.len(),
        })
    }

    fn check_reason(&self, reason: &str) -> Result<(), DagError> {
        let max = self.config.limits.error_bytes_max;
        if reason.len() > max {
            return Err(DagError::invalid(
                "reason",
                format!("the reason is {} bytes, at most {max}", reason.len()),
            ));
        }
        Ok(())
    }

    /// A SCHEDULED task back to ELIGIBLE; a RUNNING one PREEMPTED, then ELIGIBLE to resume from
    /// its checkpoint. Not a failure: its attempts are not used up by it.
    fn requeue(&mut self, task: TaskRef, why: &str, now_ms: u64, events: &mut Vec<DagEvent>) {
        let (_, live) = self.task(task).expect("a requeued task exists");
        if live.state == TaskState::Running {
            let mut moved = self.move_of(task, TaskState::Preempted, now_ms);
            moved.error = Some(why.to_string());
            self.emit(DagEvent::Moved(moved), events);
        }
        let mut moved = self.move_of(task, TaskState::Eligible, now_ms);
        moved.error = Some(why.to_string());
        self.emit(DagEvent::Moved(moved), events);
    }

    /// For the denied tasks (highest in line first, at most one preemption each), stops lower priority work of
    /// borrowing tenants on the same pool when that lets the task in (`crate::preempt`).
    /// `quotas` holds this pass's admissions; it is updated as victims are released and the
    /// preemptor is counted in. Answers how many tasks were stopped.
    pub(crate) fn preempt_for(
        &mut self,
        denied: &[Denied],
        quotas: &mut Quotas,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
    ) -> usize {
        let mut n_stopped = 0;
        let mut served: Vec<TaskRef> = Vec::new();
        for denial in denied.iter() {
            if served.contains(&denial.task) {
                continue;
            }
            let pool = self.config.pools[denial.pool].name.clone();
            let (dag, live) = self.task(denial.task).expect("a denied task exists");
            let incoming = QuotaHolder {
                id: u64::MAX,
                tenant: dag.tenant.clone(),
                pool: pool.clone(),
                priority: live.spec.priority,
                requests: live.spec.requests,
            };
            let (holders, refs) = self.holders_on(denial.pool, incoming.priority);
            let Ok(victims) = preemptions(quotas, &holders, &incoming) else {
                continue;
            };
            if victims.is_empty() {
                continue;
            }
            for victim in victims {
                let holder = &holders[victim as usize];
                let why = format!(
                    "preempted by {} (priority {}) of tenant {}: tenant {} borrows on pool {pool}",
                    denial.task, incoming.priority, incoming.tenant, holder.tenant
                );
                quotas.release(&holder.tenant, &holder.pool, &holder.requests);
                self.requeue(refs[victim as usize], &why, now_ms, events);
                n_stopped += 1;
            }
            served.push(denial.task);
            // Counted in, so the next denied task cannot take what was freed for this one.
            let admitted = quotas.try_admit(&incoming.tenant, &pool, &incoming.requests);
            debug_assert!(admitted.is_ok(), "the rule freed enough: {admitted:?}");
        }
        n_stopped
    }

    /// Work holding capacity on `pool` at a priority below `below`: the candidates.
    fn holders_on(&self, pool: usize, below: i32) -> (Vec<QuotaHolder>, Vec<TaskRef>) {
        let mut holders = Vec::new();
        let mut refs = Vec::new();
        for &(_, task_ref) in &self.expiry {
            let (dag, task) = self.task(task_ref).expect("an indexed task exists");
            let machine = task.machine.expect("a placed task has a machine");
            if self.machines[machine as usize].pool as usize != pool || task.spec.priority >= below
            {
                continue;
            }
            holders.push(QuotaHolder {
                // The id orders candidates newest first among equal priorities.
                id: holders.len() as u64,
                tenant: dag.tenant.clone(),
                pool: self.config.pools[pool].name.clone(),
                priority: task.spec.priority,
                requests: task.spec.requests,
            });
            refs.push(task_ref);
        }
        (holders, refs)
    }
}
