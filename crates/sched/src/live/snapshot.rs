//! Snapshots: the DAGs as one canonical value (by id, tasks in submitted order). Indexes and
//! derived figures are rebuilt on load, which also gives the check that the live ones agree.

use serde::{Deserialize, Serialize};

use super::capacity::TaskApiUses;
use super::evolve::{derive_dag, holds_machine, topological_order};
use super::{ApiWindows, Dag, DagCharge, DagConfig, DagError, DagState, LiveTask, Unaffordable};
use crate::resources::CUSTOM_DIMS_MAX;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DagSnapshot {
    pub next_dag: u64,
    pub dags: Vec<Dag>,
    /// The charged DAGs (last: a snapshot from before charging is this one without it).
    pub charges: Vec<(u64, DagCharge)>,
    pub paused: Vec<(u64, Unaffordable)>,
    pub api_uses: Vec<(u64, TaskApiUses)>,
    pub api_windows: ApiWindows,
    /// Tasks' custom requests (which `Dag` leaves out), per DAG.
    pub custom_requests: Vec<(u64, TaskCustomRequests)>,
}

/// A DAG's tasks that request custom dimensions: (task, amounts by index), in task order.
pub type TaskCustomRequests = Vec<(u32, [u64; CUSTOM_DIMS_MAX])>;

impl DagState {
    /// The canonical value: derived figures are left out (zero), as they are once encoded.
    pub fn to_snapshot(&self) -> DagSnapshot {
        let dags = self
            .dags
            .values()
            .map(|dag| Dag {
                tasks: dag
                    .tasks
                    .iter()
                    .map(|task| LiveTask {
                        children: Vec::new(),
                        waiting_on: 0,
                        rank_ms: 0,
                        ..task.clone()
                    })
                    .collect(),
                n_open: 0,
                ..dag.clone()
            })
            .collect();
        DagSnapshot {
            next_dag: self.next_dag,
            dags,
            charges: self
                .charges
                .iter()
                .map(|(&dag, charge)| (dag, charge.clone()))
                .collect(),
            paused: self
                .paused
                .iter()
                .map(|(&dag, why)| (dag, why.clone()))
                .collect(),
            api_uses: self
                .api_uses
                .iter()
                .map(|(&dag, uses)| (dag, uses.clone()))
                .collect(),
            api_windows: self.api_windows.clone(),
            custom_requests: self
                .dags
                .values()
                .filter_map(|dag| {
                    let tasks: TaskCustomRequests = dag
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, task)| task.spec.requests.custom.iter().any(|&a| a > 0))
                        .map(|(idx, task)| (idx as u32, task.spec.requests.custom))
                        .collect();
                    (!tasks.is_empty()).then_some((dag.id, tasks))
                })
                .collect(),
        }
    }

    /// The state a snapshot holds, on the configured machines; refuses a snapshot that does
    /// not fit them or is not a valid state.
    pub fn from_snapshot(config: DagConfig, snapshot: DagSnapshot) -> Result<DagState, DagError> {
        let mut state = DagState::new(config)?;
        if snapshot.next_dag == u64::MAX {
            return Err(DagError::Replay("snapshot: no dag id is left".into()));
        }
        state.next_dag = snapshot.next_dag;
        let mut custom: std::collections::HashMap<u64, TaskCustomRequests> =
            snapshot.custom_requests.into_iter().collect();
        for mut dag in snapshot.dags {
            state.check_snapshot_dag(&dag)?;
            // Custom requests first: what a placed task holds on its machine includes them.
            for (task, amounts) in custom.remove(&dag.id).unwrap_or_default() {
                let Some(live) = dag.tasks.get_mut(task as usize) else {
                    return Err(DagError::Replay(format!(
                        "snapshot: dag_{} has no task {task} to request custom dimensions",
                        dag.id
                    )));
                };
                live.spec.requests.custom = amounts;
            }
            derive_dag(&mut dag);
            state.check_holds_fit(&dag)?;
            state.n_tasks += dag.tasks.len();
            if let Some(key) = &dag.idempotency_key {
                state
                    .by_key
                    .insert((dag.tenant.clone(), key.clone()), dag.id);
            }
            state.index_dag(&dag);
            state.dags.insert(dag.id, dag);
        }
        for (dag, charge) in snapshot.charges {
            let fits = state.dags.get(&dag).is_some_and(|found| {
                found.tasks.len() == charge.tasks.len()
                    && found
                        .tasks
                        .iter()
                        .zip(&charge.tasks)
                        .all(|(task, charged)| charged.open.is_none() || holds_machine(task.state))
            });
            if !fits || state.charges.contains_key(&dag) {
                return Err(DagError::Replay(format!(
                    "snapshot: the charge of dag_{dag} does not fit it"
                )));
            }
            state.charges.insert(dag, charge);
        }
        for (dag, why) in snapshot.paused {
            let running = state.dags.get(&dag).is_some_and(|found| found.n_open > 0);
            if !running || !state.charges.contains_key(&dag) {
                return Err(DagError::Replay(format!(
                    "snapshot: dag_{dag} is paused but not a running charged dag"
                )));
            }
            state.paused.insert(dag, why);
        }
        for (dag, uses) in snapshot.api_uses {
            let fits = state.dags.get(&dag).is_some_and(|found| {
                uses.iter()
                    .all(|(task, ..)| (*task as usize) < found.tasks.len())
            });
            if !fits || uses.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
                return Err(DagError::Replay(format!(
                    "snapshot: the API uses of dag_{dag} do not fit it"
                )));
            }
            state.api_uses.insert(dag, uses);
        }
        let n_pools = state.config.pools.len() as u32;
        if snapshot
            .api_windows
            .pools
            .iter()
            .any(|(pool, _)| *pool >= n_pools)
        {
            return Err(DagError::Replay(
                "snapshot: an API window of a pool the config lacks".into(),
            ));
        }
        state.api_windows = snapshot.api_windows;
        if let Some(dag) = custom.keys().next() {
            return Err(DagError::Replay(format!(
                "snapshot: custom requests of dag_{dag}, which it does not hold"
            )));
        }
        Ok(state)
    }

    fn check_snapshot_dag(&self, dag: &Dag) -> Result<(), DagError> {
        let fail = |reason: &str| {
            Err(DagError::Replay(format!(
                "snapshot dag_{}: {reason}",
                dag.id
            )))
        };
        if dag.id >= self.next_dag || self.dags.contains_key(&dag.id) {
            return fail("id out of order");
        }
        let n_tasks = dag.tasks.len();
        let parents: Vec<&[u32]> = dag
            .tasks
            .iter()
            .map(|task| task.spec.parents.as_slice())
            .collect();
        if n_tasks == 0
            || parents
                .iter()
                .flat_map(|task_parents| task_parents.iter())
                .any(|&parent| parent as usize >= n_tasks)
            || topological_order(&parents).is_none()
        {
            return fail("not a valid dag");
        }
        for task in &dag.tasks {
            let machine_ok = task
                .machine
                .is_some_and(|machine| (machine as usize) < self.machines.len());
            if holds_machine(task.state) && !machine_ok {
                return fail("a task is placed on a machine the config lacks");
            }
        }
        Ok(())
    }

    /// Rebuilds every index and derived figure from the DAGs and compares: the live state's
    /// must be the same. Tests call it after every step; recovery after replay.
    pub fn check_invariants(&self) -> Result<(), String> {
        let rebuilt = DagState::from_snapshot(self.config.clone(), self.to_snapshot())
            .map_err(|err| err.to_string())?;
        let same_machines = self
            .machines
            .iter()
            .zip(&rebuilt.machines)
            .all(|(live, fresh)| live.used == fresh.used && live.scheduled == fresh.scheduled);
        let checks = [
            ("dags", self.dags == rebuilt.dags),
            ("machines", same_machines),
            ("eligible index", self.eligible == rebuilt.eligible),
            ("expiry index", self.expiry == rebuilt.expiry),
            ("finished dags", self.finished == rebuilt.finished),
            ("idempotency keys", self.by_key == rebuilt.by_key),
            ("tenant usage", self.tenant_cores == rebuilt.tenant_cores),
            ("task count", self.n_tasks == rebuilt.n_tasks),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((what, _)) => Err(format!("the live {what} differ from the rebuilt ones")),
            None => Ok(()),
        }
    }
}

impl DagState {
    /// A snapshot's placed tasks must not overflow what their machines hold (a server never
    /// made such a state; the fold would panic on it).
    fn check_holds_fit(&self, dag: &Dag) -> Result<(), DagError> {
        let mut used: std::collections::HashMap<u32, crate::resources::Resources> =
            std::collections::HashMap::new();
        for task in dag.tasks.iter().filter(|task| holds_machine(task.state)) {
            let Some(machine) = task.machine.filter(|&m| (m as usize) < self.machines.len()) else {
                continue;
            };
            let base = used
                .get(&machine)
                .copied()
                .unwrap_or(self.machines[machine as usize].used);
            let Some(sum) = base.checked_add(&task.spec.requests) else {
                return Err(DagError::Replay(format!(
                    "snapshot: dag_{} overflows what machine {machine} holds",
                    dag.id
                )));
            };
            used.insert(machine, sum);
        }
        Ok(())
    }
}
