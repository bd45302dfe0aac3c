//! Capacity that is not a machine: API pools, whose rate limits no sliding minute may pass,
//! and people, who work within their hours.
//!
//! An API task's requests and tokens count in its pool's window when it is placed (a placement
//! that lapses is counted all the same: the window errs on the safe side). Placement admits a
//! task only if the minute ending now, with it, stays within the limits, so every sliding
//! minute does: the last placement of any minute saw all the others of that minute.
//!
//! A people pool takes tasks only within working hours (its machines are its people), and a
//! person's placement or lease lasts the task's estimate plus one lease TTL of working time,
//! so an estimate spanning the evening resumes the next working morning.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{DagError, DagState, TaskNeeds, TaskRef, TaskRequest};
use crate::platform::PoolKind;
use crate::resources::{CUSTOM_DIMS_MAX, Dimension};

/// The API uses of a DAG's tasks: (task, requests, tokens) per attempt, in task order.
pub type TaskApiUses = Vec<(u32, u64, u64)>;

/// The sliding window of API pools.
pub const API_WINDOW_MS: u64 = 60_000;

/// One placement on an API pool: when, and what it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUse {
    pub at_ms: u64,
    pub requests: u64,
    pub tokens: u64,
}

/// The placements of the last minute on each API pool, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiWindows {
    pub pools: Vec<(u32, VecDeque<ApiUse>)>,
}

impl ApiWindows {
    fn window_mut(&mut self, pool: u32) -> &mut VecDeque<ApiUse> {
        let idx = match self.pools.binary_search_by_key(&pool, |(idx, _)| *idx) {
            Ok(idx) => idx,
            Err(idx) => {
                self.pools.insert(idx, (pool, VecDeque::new()));
                idx
            }
        };
        &mut self.pools[idx].1
    }

    /// What the minute ending at `now_ms` holds on `pool`: (requests, tokens).
    pub fn used(&self, pool: u32, now_ms: u64) -> (u64, u64) {
        let Ok(idx) = self.pools.binary_search_by_key(&pool, |(idx, _)| *idx) else {
            return (0, 0);
        };
        let since = now_ms.saturating_sub(API_WINDOW_MS);
        self.pools[idx]
            .1
            .iter()
            .filter(|entry| entry.at_ms > since)
            .fold((0, 0), |(requests, tokens), entry| {
                (
                    requests.saturating_add(entry.requests),
                    tokens.saturating_add(entry.tokens),
                )
            })
    }

    /// Counts a placement (the fold), forgetting what left the window.
    pub fn record(&mut self, pool: u32, entry: ApiUse) {
        let window = self.window_mut(pool);
        let since = entry.at_ms.saturating_sub(API_WINDOW_MS);
        while window.front().is_some_and(|old| old.at_ms <= since) {
            window.pop_front();
        }
        window.push_back(entry);
    }
}

impl DagState {
    /// Whether `task`, with `extra` already admitted in this pass, fits the window of API pool
    /// `pool_idx` now. Pools of other kinds always fit.
    pub(crate) fn api_fits(
        &self,
        task: TaskRef,
        pool_idx: usize,
        extra: (u64, u64),
        now_ms: u64,
    ) -> bool {
        let PoolKind::Api {
            requests_per_minute,
            tokens_per_minute,
        } = &self.config.pools[pool_idx].kind
        else {
            return true;
        };
        let (requests, tokens) = self.api_use(task);
        let (used_requests, used_tokens) = self.api_windows.used(pool_idx as u32, now_ms);
        let within = |used: u64, extra: u64, own: u64, limit: Option<u64>| {
            limit.is_none_or(|limit| used.saturating_add(extra).saturating_add(own) <= limit)
        };
        within(used_requests, extra.0, requests, *requests_per_minute)
            && within(used_tokens, extra.1, tokens, *tokens_per_minute)
    }

    /// The requests and tokens a task's attempt uses (zero for a task that uses no API).
    pub(crate) fn api_use(&self, task: TaskRef) -> (u64, u64) {
        self.api_uses
            .get(&task.dag)
            .and_then(|uses| {
                uses.binary_search_by_key(&task.task, |(idx, ..)| *idx)
                    .ok()
                    .map(|found| (uses[found].1, uses[found].2))
            })
            .unwrap_or((0, 0))
    }

    /// Whether the machine's pool is of people outside their working hours now.
    pub(crate) fn off_hours(&self, machine: u32, now_ms: u64) -> bool {
        let pool = self.machines[machine as usize].pool as usize;
        match &self.config.pools[pool].kind {
            PoolKind::People(hours) => !hours.is_working(now_ms),
            _ => false,
        }
    }

    /// The deadline of a placement or lease of `task` on `machine` made at `now_ms`: one lease
    /// TTL, or for a person the task's estimate plus one TTL of working time.
    pub(crate) fn deadline(&self, task: TaskRef, machine: u32, now_ms: u64) -> u64 {
        let ttl_ms = self.config.lease_ttl_ms;
        let pool = self.machines[machine as usize].pool as usize;
        match &self.config.pools[pool].kind {
            PoolKind::People(hours) => {
                let runtime_ms = self.task(task).map_or(0, |(_, live)| live.spec.runtime_ms);
                hours
                    .add_working(now_ms, runtime_ms.saturating_add(ttl_ms))
                    .unwrap_or_else(|| now_ms.saturating_add(ttl_ms))
            }
            _ => now_ms.saturating_add(ttl_ms),
        }
    }
}

/// Whether a pool of `kind` runs a task with `needs`: API tasks on API pools whose limits a
/// minute can hold, people's tasks on people, the rest on machines.
pub(crate) fn kind_fits(kind: &PoolKind, needs: &TaskNeeds) -> bool {
    match kind {
        PoolKind::Machines => !needs.person && !needs.uses_api(),
        PoolKind::Api {
            requests_per_minute,
            tokens_per_minute,
        } => {
            !needs.person
                && needs.uses_api()
                && requests_per_minute.is_none_or(|limit| needs.requests <= limit)
                && tokens_per_minute.is_none_or(|limit| needs.tokens <= limit)
        }
        PoolKind::People(_) => needs.person && !needs.uses_api(),
    }
}

impl DagState {
    /// A task whose kind of pool is not configured, or uses more of an API than any API pool
    /// allows in a minute, is refused with the field named.
    pub(crate) fn check_kind(&self, task: &TaskRequest, task_idx: usize) -> Result<(), DagError> {
        if self
            .config
            .pools
            .iter()
            .any(|pool| kind_fits(&pool.kind, &task.needs))
        {
            return Ok(());
        }
        let needs = &task.needs;
        let (field, message) = if needs.person && needs.uses_api() {
            (
                "person",
                format!(
                    "task {} needs a person and an API: split it in two",
                    task.name
                ),
            )
        } else if needs.person {
            (
                "person",
                format!(
                    "task {} needs a person, and no people pool is configured",
                    task.name
                ),
            )
        } else if needs.uses_api() {
            let any_api = self
                .config
                .pools
                .iter()
                .any(|pool| matches!(pool.kind, PoolKind::Api { .. }));
            if any_api {
                (
                    "uses",
                    format!(
                        "task {} uses {} requests and {} tokens, more than any API pool allows in a minute",
                        task.name, needs.requests, needs.tokens
                    ),
                )
            } else {
                (
                    "uses",
                    format!(
                        "task {} uses an API, and no API pool is configured",
                        task.name
                    ),
                )
            }
        } else {
            (
                "requests",
                format!(
                    "task {} needs a machine, and no pool of machines is configured",
                    task.name
                ),
            )
        };
        Err(DagError::invalid(
            format!("tasks[{task_idx}].{field}"),
            message,
        ))
    }
}

impl DagState {
    /// A task's custom requests by the configuration's index; a name no pool offers is refused
    /// with the field named.
    pub(crate) fn custom_amounts(
        &self,
        task: &TaskRequest,
        task_idx: usize,
    ) -> Result<[u64; CUSTOM_DIMS_MAX], DagError> {
        let mut amounts = [0; CUSTOM_DIMS_MAX];
        for (name, amount) in &task.custom_requests {
            let field = format!("tasks[{task_idx}].requests.{name}");
            match Dimension::named(name, &self.config.custom_dimensions) {
                Some(Dimension::Custom(idx)) => amounts[idx as usize] = *amount,
                _ => {
                    let offered = if self.config.custom_dimensions.is_empty() {
                        "no pool offers a custom dimension".to_string()
                    } else {
                        format!(
                            "the pools offer cores, memory_bytes, gpu and {}",
                            self.config.custom_dimensions.join(", ")
                        )
                    };
                    return Err(DagError::UnknownField {
                        field,
                        message: format!("task {} requests {name}: {offered}", task.name),
                    });
                }
            }
        }
        Ok(amounts)
    }

    /// Folds the custom requests of a DAG's tasks into their specs.
    pub(crate) fn fold_custom(&mut self, dag: u64, tasks: &[(u32, [u64; CUSTOM_DIMS_MAX])]) {
        let found = self.dags.get_mut(&dag).expect("a checked dag exists");
        for (task, amounts) in tasks {
            found.tasks[*task as usize].spec.requests.custom = *amounts;
        }
    }

    /// What replay checks of custom requests: the DAG exists, its tasks are in range and in
    /// order, and none holds a machine yet (what it holds would change under it).
    pub(crate) fn check_custom(
        &self,
        dag: u64,
        tasks: &[(u32, [u64; CUSTOM_DIMS_MAX])],
    ) -> Result<(), DagError> {
        let fits = self.dags.get(&dag).is_some_and(|found| {
            tasks.iter().all(|(task, _)| {
                found
                    .tasks
                    .get(*task as usize)
                    .is_some_and(|live| !super::evolve::holds_machine(live.state))
            })
        });
        if fits && tasks.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            Ok(())
        } else {
            Err(DagError::Replay(format!(
                "dag_{dag}: its custom requests do not fit it"
            )))
        }
    }
}
