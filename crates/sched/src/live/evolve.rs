//! The fold: how each event changes the state. Live apply and replay both run it, so they
//! cannot drift apart. It never decides anything and never fails on a checked event.

use std::cmp::Reverse;

use super::{
    Dag, DagError, DagEvent, DagState, DagSubmitted, EligibleKey, LiveTask, TaskMove, TaskRef,
};
use crate::resources::Resources;
use crate::state::TaskState;

/// A task no longer in play: COMPLETED, FAILED (for good unless retried) or CANCELLED.
pub(crate) fn is_closed(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Completed | TaskState::Failed | TaskState::Cancelled | TaskState::Archived
    )
}

/// A task holding capacity on its machine.
pub(crate) fn holds_machine(state: TaskState) -> bool {
    matches!(state, TaskState::Scheduled | TaskState::Running)
}

impl DagState {
    pub(crate) fn evolve(&mut self, event: &DagEvent) {
        match event {
            DagEvent::Submitted(submitted) => self.fold_submitted(submitted),
            DagEvent::Moved(moved) => self.fold_moved(moved),
            DagEvent::LeaseRenewed {
                task,
                lease_expires_ms,
                at_ms,
            } => {
                self.renew(*task, *lease_expires_ms, *at_ms);
            }
            DagEvent::Checkpointed {
                task,
                checkpoint,
                lease_expires_ms,
                at_ms,
            } => {
                self.renew(*task, *lease_expires_ms, *at_ms);
                self.task_mut(*task).checkpoint = Some(checkpoint.clone());
            }
            DagEvent::Forgotten { dag, .. } => {
                let removed = self.dags.remove(dag).expect("a forgotten dag exists");
                self.finished.remove(dag);
                if let Some(key) = removed.idempotency_key {
                    self.by_key.remove(&(removed.tenant, key));
                }
                self.n_tasks -= removed.tasks.len();
                self.charges.remove(dag);
                self.paused.remove(dag);
                self.api_uses.remove(dag);
            }
            DagEvent::ApiUses { dag, tasks, .. } => {
                self.api_uses.insert(*dag, tasks.clone());
            }
            DagEvent::CustomRequests { dag, tasks, .. } => self.fold_custom(*dag, tasks),
            DagEvent::Accounted { .. }
            | DagEvent::Charged { .. }
            | DagEvent::AttemptEnded { .. }
            | DagEvent::Paused { .. }
            | DagEvent::Resumed { .. } => self.fold_charge(event),
        }
    }

    fn task_mut(&mut self, task: TaskRef) -> &mut LiveTask {
        &mut self
            .dags
            .get_mut(&task.dag)
            .expect("a checked event names a dag that exists")
            .tasks[task.task as usize]
    }

    fn renew(&mut self, task: TaskRef, lease_expires_ms: u64, at_ms: u64) {
        let live = self.task_mut(task);
        let old = std::mem::replace(&mut live.lease_expires_ms, lease_expires_ms);
        live.updated_ms = at_ms;
        self.expiry.remove(&(old, task));
        self.expiry.insert((lease_expires_ms, task));
    }

    fn fold_submitted(&mut self, submitted: &DagSubmitted) {
        let tasks = submitted
            .tasks
            .iter()
            .map(|spec| LiveTask {
                spec: spec.clone(),
                state: if spec.parents.is_empty() {
                    TaskState::Eligible
                } else {
                    TaskState::Queued
                },
                machine: None,
                attempts: 0,
                lease_expires_ms: 0,
                checkpoint: None,
                error: None,
                updated_ms: submitted.at_ms,
                children: Vec::new(),
                waiting_on: 0,
                rank_ms: 0,
            })
            .collect();
        let mut dag = Dag {
            id: submitted.dag,
            name: submitted.name.clone(),
            tenant: submitted.tenant.clone(),
            priority: submitted.priority,
            idempotency_key: submitted.idempotency_key.clone(),
            submitted_ms: submitted.at_ms,
            tasks,
            n_open: 0,
        };
        derive_dag(&mut dag);
        self.n_tasks += dag.tasks.len();
        self.next_dag = submitted.dag + 1;
        if let Some(key) = &dag.idempotency_key {
            self.by_key
                .insert((dag.tenant.clone(), key.clone()), dag.id);
        }
        self.index_dag(&dag);
        self.dags.insert(dag.id, dag);
    }

    /// Puts a DAG's tasks into the indexes (eligible, expiry, machines, tenant usage).
    pub(crate) fn index_dag(&mut self, dag: &Dag) {
        for (task_idx, task) in dag.tasks.iter().enumerate() {
            let task_ref = TaskRef {
                dag: dag.id,
                task: task_idx as u32,
            };
            match task.state {
                TaskState::Eligible => {
                    self.eligible.insert(eligible_key(task, task_ref));
                }
                TaskState::Scheduled | TaskState::Running => {
                    let machine = task.machine.expect("a placed task has a machine");
                    self.hold(machine, &dag.tenant, &task.spec.requests);
                    self.expiry.insert((task.lease_expires_ms, task_ref));
                    if task.state == TaskState::Scheduled {
                        self.machines[machine as usize].scheduled.insert(task_ref);
                    }
                }
                _ => {}
            }
        }
        if dag.n_open == 0 {
            self.finished.insert(dag.id);
        }
    }

    fn hold(&mut self, machine: u32, tenant: &str, requests: &Resources) {
        let used = &mut self.machines[machine as usize].used;
        *used = used.checked_add(requests).expect("usage fits in u64");
        // A tenant's cores over all machines only order fair share: they saturate.
        let cores = self.tenant_cores.entry(tenant.to_string()).or_insert(0);
        *cores = cores.saturating_add(requests.cores);
    }

    fn release(&mut self, machine: u32, tenant: &str, requests: &Resources) {
        let used = &mut self.machines[machine as usize].used;
        // Invariant: a release matches an earlier hold.
        *used = used
            .checked_sub(requests)
            .expect("a machine releases what it held");
        if let Some(cores) = self.tenant_cores.get_mut(tenant) {
            *cores = cores.saturating_sub(requests.cores);
            if *cores == 0 {
                self.tenant_cores.remove(tenant);
            }
        }
    }

    fn fold_moved(&mut self, moved: &TaskMove) {
        let task_ref = moved.task;
        let dag = self.dags.get(&task_ref.dag).expect("a checked dag exists");
        let tenant = dag.tenant.clone();
        let task = &dag.tasks[task_ref.task as usize];
        let (from, to) = (task.state, moved.to);
        let requests = task.spec.requests;
        let key = eligible_key(task, task_ref);
        let old_machine = task.machine;
        let old_deadline = task.lease_expires_ms;

        if from == TaskState::Eligible {
            self.eligible.remove(&key);
        }
        if holds_machine(from) {
            let machine = old_machine.expect("a placed task has a machine");
            self.expiry.remove(&(old_deadline, task_ref));
            if from == TaskState::Scheduled {
                self.machines[machine as usize].scheduled.remove(&task_ref);
            }
            if !holds_machine(to) {
                self.release(machine, &tenant, &requests);
            }
        }
        match to {
            TaskState::Eligible => {
                self.eligible.insert(key);
            }
            TaskState::Scheduled => {
                let machine = moved.machine.expect("a placement names its machine");
                self.hold(machine, &tenant, &requests);
                self.machines[machine as usize].scheduled.insert(task_ref);
                self.expiry.insert((moved.lease_expires_ms, task_ref));
                let (api_requests, api_tokens) = self.api_use(task_ref);
                if api_requests > 0 || api_tokens > 0 {
                    let pool = self.machines[machine as usize].pool;
                    let entry = super::ApiUse {
                        at_ms: moved.at_ms,
                        requests: api_requests,
                        tokens: api_tokens,
                    };
                    self.api_windows.record(pool, entry);
                }
            }
            TaskState::Running => {
                self.expiry.insert((moved.lease_expires_ms, task_ref));
            }
            _ => {}
        }

        let dag = self
            .dags
            .get_mut(&task_ref.dag)
            .expect("a checked dag exists");
        if to == TaskState::Completed {
            // Taken out for the loop, which changes other tasks of the same DAG.
            let children = std::mem::take(&mut dag.tasks[task_ref.task as usize].children);
            for &child in &children {
                dag.tasks[child as usize].waiting_on -= 1;
            }
            dag.tasks[task_ref.task as usize].children = children;
        }
        if is_closed(from) && !is_closed(to) {
            dag.n_open += 1;
            self.finished.remove(&task_ref.dag);
        }
        if !is_closed(from) && is_closed(to) {
            dag.n_open -= 1;
            if dag.n_open == 0 {
                self.finished.insert(task_ref.dag);
                self.paused.remove(&task_ref.dag);
            }
        }
        let task = &mut dag.tasks[task_ref.task as usize];
        task.state = to;
        task.updated_ms = moved.at_ms;
        if moved.error.is_some() {
            // Why it failed, was cancelled or was taken back (kept until the next reason).
            task.error = moved.error.clone();
        }
        match to {
            TaskState::Scheduled => {
                task.machine = moved.machine;
                task.lease_expires_ms = moved.lease_expires_ms;
            }
            TaskState::Running => {
                task.attempts += 1;
                task.lease_expires_ms = moved.lease_expires_ms;
                if let Some(open) = self
                    .charges
                    .get_mut(&task_ref.dag)
                    .and_then(|charge| charge.tasks[task_ref.task as usize].open.as_mut())
                {
                    open.started_ms = Some(moved.at_ms);
                }
            }
            TaskState::Failed => {
                task.error = moved.error.clone();
                task.lease_expires_ms = 0;
            }
            _ => task.lease_expires_ms = 0,
        }
    }

    /// What replay checks before folding: the event names what exists, in the state it says,
    /// along a legal transition. The fold would panic or corrupt the indexes otherwise.
    pub(crate) fn check_replayable(&self, event: &DagEvent) -> Result<(), DagError> {
        let fail = |message: String| Err(DagError::Replay(message));
        match event {
            DagEvent::Submitted(submitted) => {
                if submitted.dag == u64::MAX {
                    return fail(format!("dag_{} is past the last id", submitted.dag));
                }
                if submitted.dag < self.next_dag || self.dags.contains_key(&submitted.dag) {
                    return fail(format!("dag_{} was already submitted", submitted.dag));
                }
                let n_tasks = submitted.tasks.len();
                let parents_ok = submitted.tasks.iter().enumerate().all(|(idx, task)| {
                    task.parents
                        .iter()
                        .all(|&parent| (parent as usize) < n_tasks && parent as usize != idx)
                });
                let parents: Vec<&[u32]> = submitted
                    .tasks
                    .iter()
                    .map(|task| task.parents.as_slice())
                    .collect();
                if n_tasks == 0 || !parents_ok || topological_order(&parents).is_none() {
                    return fail(format!("dag_{} is not a valid dag", submitted.dag));
                }
                Ok(())
            }
            DagEvent::Moved(moved) => {
                let Some((_, task)) = self.task(moved.task) else {
                    return fail(format!("task {} does not exist", moved.task));
                };
                if task.state != moved.from || !moved.from.can_move_to(moved.to) {
                    return fail(format!(
                        "task {} is {}, the journal moves it {} -> {}",
                        moved.task,
                        task.state.name(),
                        moved.from.name(),
                        moved.to.name()
                    ));
                }
                let machine_ok = |machine: Option<u32>| {
                    machine.is_some_and(|machine| (machine as usize) < self.machines.len())
                };
                if moved.to == TaskState::Scheduled && !machine_ok(moved.machine) {
                    return fail(format!(
                        "task {} is placed on machine {:?}, which the config lacks",
                        moved.task, moved.machine
                    ));
                }
                // What a machine holds is a sum: a placement that would overflow it is not one a
                // server made (a config that shrank a pool may leave it over capacity, not this).
                if moved.to == TaskState::Scheduled
                    && let Some(machine) = moved.machine
                    && self.machines[machine as usize]
                        .used
                        .checked_add(&task.spec.requests)
                        .is_none()
                {
                    return fail(format!(
                        "task {} would overflow what machine {machine} holds",
                        moved.task
                    ));
                }
                Ok(())
            }
            DagEvent::LeaseRenewed { task, .. } | DagEvent::Checkpointed { task, .. } => {
                match self.task(*task) {
                    Some((_, live)) if live.state == TaskState::Running => Ok(()),
                    _ => fail(format!("task {task} renews a lease it does not hold")),
                }
            }
            DagEvent::Forgotten { dag, .. } => {
                if self.finished.contains(dag) {
                    Ok(())
                } else {
                    fail(format!("dag_{dag} is forgotten before it finished"))
                }
            }
            DagEvent::Accounted { .. }
            | DagEvent::Charged { .. }
            | DagEvent::AttemptEnded { .. }
            | DagEvent::Paused { .. }
            | DagEvent::Resumed { .. } => self.check_charge(event),
            DagEvent::CustomRequests { dag, tasks, .. } => self.check_custom(*dag, tasks),
            DagEvent::ApiUses { dag, tasks, .. } => {
                let in_range = self.dags.get(dag).is_some_and(|found| {
                    tasks
                        .iter()
                        .all(|(task, ..)| (*task as usize) < found.tasks.len())
                });
                let in_order = tasks.windows(2).all(|pair| pair[0].0 < pair[1].0);
                if in_range && in_order && !self.api_uses.contains_key(dag) {
                    Ok(())
                } else {
                    fail(format!("dag_{dag}: its API uses do not fit it"))
                }
            }
        }
    }
}

pub(crate) fn eligible_key(task: &LiveTask, task_ref: TaskRef) -> EligibleKey {
    (Reverse(task.spec.priority), Reverse(task.rank_ms), task_ref)
}

/// Parents before children, or None when the tasks form a cycle. `parents[idx]` lists the
/// parents of task `idx`, each in range.
pub(crate) fn topological_order(parents: &[&[u32]]) -> Option<Vec<u32>> {
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); parents.len()];
    let mut n_waiting: Vec<usize> = Vec::with_capacity(parents.len());
    for (idx, task_parents) in parents.iter().enumerate() {
        n_waiting.push(task_parents.len());
        for &parent in *task_parents {
            children[parent as usize].push(idx as u32);
        }
    }
    let mut ready: Vec<u32> = (0..parents.len() as u32)
        .filter(|&idx| n_waiting[idx as usize] == 0)
        .collect();
    let mut order = Vec::with_capacity(parents.len());
    while let Some(idx) = ready.pop() {
        order.push(idx);
        for &child in &children[idx as usize] {
            n_waiting[child as usize] -= 1;
            if n_waiting[child as usize] == 0 {
                ready.push(child);
            }
        }
    }
    (order.len() == parents.len()).then_some(order)
}

/// Fills what a DAG's tasks derive from the DAG and their states: children, parents still
/// waited for, upward ranks, the count of open tasks.
pub(crate) fn derive_dag(dag: &mut Dag) {
    let n_tasks = dag.tasks.len();
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); n_tasks];
    let mut waiting_on = vec![0u32; n_tasks];
    let order = {
        let parents: Vec<&[u32]> = dag
            .tasks
            .iter()
            .map(|task| task.spec.parents.as_slice())
            .collect();
        for (task_idx, task_parents) in parents.iter().enumerate() {
            for &parent in *task_parents {
                children[parent as usize].push(task_idx as u32);
                if dag.tasks[parent as usize].state != TaskState::Completed {
                    waiting_on[task_idx] += 1;
                }
            }
        }
        topological_order(&parents).expect("a checked dag has no cycle")
    };
    for (task, (children, waiting_on)) in dag
        .tasks
        .iter_mut()
        .zip(children.into_iter().zip(waiting_on))
    {
        task.children = children;
        task.waiting_on = waiting_on;
    }
    for &task_idx in order.iter().rev() {
        let task = &dag.tasks[task_idx as usize];
        let tail = task
            .children
            .iter()
            .map(|&child| dag.tasks[child as usize].rank_ms)
            .max()
            .unwrap_or(0);
        let rank = task.spec.runtime_ms.saturating_add(tail);
        dag.tasks[task_idx as usize].rank_ms = rank;
    }
    dag.n_open = dag
        .tasks
        .iter()
        .filter(|task| !is_closed(task.state))
        .count() as u32;
}
