//! Deciding what workers ask (lease, heartbeat, checkpoint, complete, fail) and what the
//! clock's tick does (deadlines passed, then placement).

use super::{Budget, DagAnswer, DagError, DagEvent, DagState, LiveTask, TaskMove, TaskRef};
use crate::state::TaskState;

impl DagState {
    pub(crate) fn lease(
        &mut self,
        worker: &str,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> Result<DagAnswer, DagError> {
        let machine = self
            .worker_machine(worker)
            .ok_or_else(|| DagError::WorkerNotFound(worker.to_string()))?;
        // Soft state: the worker is present for one TTL (see the module docs).
        let ttl_ms = self.config.lease_ttl_ms;
        self.machines[machine as usize].present_until_ms = now_ms.saturating_add(ttl_ms);
        if self.off_hours(machine, now_ms) {
            // A person outside working hours starts nothing.
            return Ok(DagAnswer::Leased(None));
        }
        let found = &self.machines[machine as usize];
        let has_room = self.config.pools[found.pool as usize]
            .capacity
            .checked_sub(&found.used)
            .is_some_and(|free| free.cores > 0);
        if found.scheduled.is_empty() && has_room {
            // Nothing waits here and there is room: place now rather than at the next tick.
            self.place(now_ms, events, budget);
        }
        // The first in line among what waits here: priority, rank, then the oldest.
        let Some(task) = self.machines[machine as usize]
            .scheduled
            .iter()
            .copied()
            .min_by_key(|&task| {
                let (_, live) = self.task(task).expect("a scheduled task exists");
                super::evolve::eligible_key(live, task)
            })
        else {
            return Ok(DagAnswer::Leased(None));
        };
        let moved = self.move_of(task, TaskState::Running, now_ms);
        self.emit(
            DagEvent::Moved(TaskMove {
                lease_expires_ms: self.deadline(task, machine, now_ms),
                ..moved
            }),
            events,
        );
        Ok(DagAnswer::Leased(Some(task)))
    }

    /// A heartbeat, or a checkpoint when `checkpoint` is given: both renew the lease.
    pub(crate) fn heartbeat(
        &mut self,
        task: TaskRef,
        attempt: Option<u32>,
        checkpoint: Option<String>,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
    ) -> Result<DagAnswer, DagError> {
        let live = self.running(task, attempt)?;
        // Never earlier than it was: a person's lease runs in working time (`capacity.rs`).
        let lease_expires_ms = now_ms
            .saturating_add(self.config.lease_ttl_ms)
            .max(live.lease_expires_ms);
        let event = match checkpoint {
            None => DagEvent::LeaseRenewed {
                task,
                lease_expires_ms,
                at_ms: now_ms,
            },
            Some(checkpoint) => {
                if !live.spec.checkpointing {
                    return Err(DagError::NotCheckpointing { task });
                }
                let max = self.config.limits.checkpoint_bytes_max;
                if checkpoint.len() > max {
                    return Err(DagError::invalid(
                        "checkpoint",
                        format!(
                            "the checkpoint of task {task} is {} bytes, at most {max}",
                            checkpoint.len()
                        ),
                    ));
                }
                DagEvent::Checkpointed {
                    task,
                    checkpoint,
                    lease_expires_ms,
                    at_ms: now_ms,
                }
            }
        };
        self.emit(event, events);
        Ok(DagAnswer::Task(task))
    }

    pub(crate) fn complete(
        &mut self,
        task: TaskRef,
        attempt: Option<u32>,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
    ) -> Result<DagAnswer, DagError> {
        self.running(task, attempt)?;
        let moved = self.move_of(task, TaskState::Completed, now_ms);
        self.emit(DagEvent::Moved(moved), events);
        // Children whose last parent this was become eligible.
        let dag = &self.dags[&task.dag];
        let ready: Vec<u32> = dag.tasks[task.task as usize]
            .children
            .iter()
            .copied()
            .filter(|&child| {
                let child = &dag.tasks[child as usize];
                child.waiting_on == 0 && child.state == TaskState::Queued
            })
            .collect();
        for child in ready {
            let child = TaskRef {
                dag: task.dag,
                task: child,
            };
            let moved = self.move_of(child, TaskState::Eligible, now_ms);
            self.emit(DagEvent::Moved(moved), events);
        }
        Ok(DagAnswer::Task(task))
    }

    pub(crate) fn fail(
        &mut self,
        task: TaskRef,
        attempt: Option<u32>,
        error: String,
        retryable: bool,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
    ) -> Result<DagAnswer, DagError> {
        let max = self.config.limits.error_bytes_max;
        if error.len() > max {
            return Err(DagError::invalid(
                "error",
                format!(
                    "the error of task {task} is {} bytes, at most {max}",
                    error.len()
                ),
            ));
        }
        self.running(task, attempt)?;
        self.fail_running(task, error, retryable, now_ms, events);
        Ok(DagAnswer::Task(task))
    }

    /// RUNNING -> FAILED, then ELIGIBLE again while attempts remain (the checkpoint stays),
    /// else the task's descendants are CANCELLED.
    fn fail_running(
        &mut self,
        task: TaskRef,
        error: String,
        retryable: bool,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
    ) {
        let mut moved = self.move_of(task, TaskState::Failed, now_ms);
        moved.error = Some(error);
        self.emit(DagEvent::Moved(moved), events);
        let (_, live) = self.task(task).expect("the task exists");
        if retryable && live.attempts < live.spec.max_attempts {
            let moved = self.move_of(task, TaskState::Eligible, now_ms);
            self.emit(DagEvent::Moved(moved), events);
        } else {
            self.cancel_descendants(task, now_ms, events);
        }
    }

    fn cancel_descendants(&mut self, task: TaskRef, now_ms: u64, events: &mut Vec<DagEvent>) {
        let dag = &self.dags[&task.dag];
        let mut seen = vec![false; dag.tasks.len()];
        let mut stack: Vec<u32> = dag.tasks[task.task as usize].children.clone();
        let mut to_cancel = Vec::new();
        while let Some(idx) = stack.pop() {
            if std::mem::replace(&mut seen[idx as usize], true) {
                continue;
            }
            let child = &dag.tasks[idx as usize];
            // Invariant: a task below one that never completed has not started.
            if child.state == TaskState::Queued {
                to_cancel.push(idx);
            }
            stack.extend_from_slice(&child.children);
        }
        to_cancel.sort_unstable();
        for idx in to_cancel {
            let child = TaskRef {
                dag: task.dag,
                task: idx,
            };
            let moved = self.move_of(child, TaskState::Cancelled, now_ms);
            self.emit(DagEvent::Moved(moved), events);
        }
    }

    /// Deadlines passed: an unleased placement goes back to ELIGIBLE; a lease not renewed
    /// is PREEMPTED and ELIGIBLE again (FAILED once its attempts are used up). Then placement.
    pub(crate) fn tick(
        &mut self,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> DagAnswer {
        let due: Vec<TaskRef> = self
            .expiry
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .take(self.config.limits.expiries_per_tick_max)
            .map(|&(_, task)| task)
            .collect();
        let expired = due.len();
        for task in due {
            let (_, live) = self.task(task).expect("an indexed task exists");
            match live.state {
                TaskState::Scheduled => {
                    let moved = self.move_of(task, TaskState::Eligible, now_ms);
                    self.emit(DagEvent::Moved(moved), events);
                }
                TaskState::Running if live.attempts >= live.spec.max_attempts => {
                    let error = format!("lease expired on attempt {}", live.attempts);
                    self.fail_running(task, error, false, now_ms, events);
                }
                TaskState::Running => {
                    let moved = self.move_of(task, TaskState::Preempted, now_ms);
                    self.emit(DagEvent::Moved(moved), events);
                    let moved = self.move_of(task, TaskState::Eligible, now_ms);
                    self.emit(DagEvent::Moved(moved), events);
                }
                other => unreachable!("the expiry index holds a {} task", other.name()),
            }
        }
        let placed = self.place(now_ms, events, budget);
        DagAnswer::Ticked { expired, placed }
    }

    /// The task, which must be RUNNING in the given attempt (if one is given).
    fn running(&self, task: TaskRef, attempt: Option<u32>) -> Result<&LiveTask, DagError> {
        let (_, live) = self.task(task).ok_or(DagError::TaskNotFound(task))?;
        if live.state != TaskState::Running {
            return Err(DagError::NotRunning {
                task,
                state: live.state.name(),
                why: live.error.clone(),
            });
        }
        match attempt {
            Some(given) if given != live.attempts => Err(DagError::StaleAttempt {
                task,
                given,
                current: live.attempts,
            }),
            _ => Ok(live),
        }
    }

    /// The move of `task` from its current state to `to`, on its current machine.
    pub(crate) fn move_of(&self, task: TaskRef, to: TaskState, now_ms: u64) -> TaskMove {
        let (_, live) = self.task(task).expect("a decided move names a task");
        TaskMove {
            task,
            from: live.state,
            to,
            machine: live.machine,
            lease_expires_ms: 0,
            error: None,
            at_ms: now_ms,
        }
    }
}
