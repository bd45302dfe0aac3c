//! Deciding a submission: names, dependencies and cycles, then the requests against every
//! pool's limit range, machine size and quota ceiling. Nothing changes until all of it passed.

use std::collections::HashMap;

use super::capacity::kind_fits;
use super::charge::charged_tasks;
use super::error::Refusal;
use super::evolve::topological_order;
use super::{
    Budget, DEFAULT_ATTEMPTS, DagAnswer, DagError, DagEvent, DagState, DagSubmitted, SubmitDag,
    TaskRequest, TaskSpec,
};
use crate::SchedError;
use crate::resources::{CUSTOM_DIMS_MAX, Dimension, Resources};

/// How one pool answers one task's request.
enum PoolAnswer {
    /// Not the kind of pool the task runs on (machines, an API, people).
    OtherKind,
    Fits(Resources),
    LimitRange(SchedError),
    TooLarge(Dimension, u64),
    Quota(Dimension, &'static str),
}

impl DagState {
    pub(crate) fn submit(
        &mut self,
        mut request: SubmitDag,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> Result<DagAnswer, DagError> {
        let limits = self.config.limits;
        check_name("tenant", &request.tenant, limits.name_bytes_max, false)?;
        if let Some(key) = &request.idempotency_key {
            check_name("idempotency_key", key, limits.name_bytes_max, false)?;
            if let Some(&dag) = self.by_key.get(&(request.tenant.clone(), key.clone())) {
                return Ok(DagAnswer::Submitted {
                    dag,
                    duplicate: true,
                });
            }
        }
        if let Some(name) = &request.name {
            check_name("name", name, limits.name_bytes_max, true)?;
        }
        if self.next_dag == u64::MAX {
            return Err(DagError::LimitReached {
                what: "dag ids",
                limit: usize::MAX,
            });
        }
        if request.tasks.is_empty() {
            return Err(DagError::invalid("tasks", "a dag needs at least one task"));
        }
        if request.tasks.len() > limits.tasks_per_dag_max {
            return Err(DagError::invalid(
                "tasks",
                format!(
                    "a dag holds at most {} tasks, this one {}",
                    limits.tasks_per_dag_max,
                    request.tasks.len()
                ),
            ));
        }
        if self.config.pools.is_empty() {
            return Err(DagError::NoPools);
        }
        let task_accounts = charged_tasks(&request)?;
        for (task_idx, task) in request.tasks.iter_mut().enumerate() {
            task.requests.custom = self.custom_amounts(task, task_idx)?;
        }
        let parents = resolve_parents(&request.tasks, &limits)?;
        let mut specs = Vec::with_capacity(request.tasks.len());
        for (task_idx, (task, parents)) in request.tasks.iter().zip(parents).enumerate() {
            let max_attempts = task.max_attempts.unwrap_or(DEFAULT_ATTEMPTS);
            if max_attempts == 0 || max_attempts > limits.attempts_max {
                return Err(DagError::invalid(
                    format!("tasks[{task_idx}].max_attempts"),
                    format!(
                        "task {}: max_attempts must be 1 to {}",
                        task.name, limits.attempts_max
                    ),
                ));
            }
            let (requests, pools) = self.admissible_pools(&request.tenant, task, task_idx)?;
            specs.push(TaskSpec {
                name: task.name.clone(),
                runtime_ms: task.runtime_ms,
                requests,
                pools,
                parents,
                priority: task.priority.unwrap_or(request.priority),
                checkpointing: task.checkpointing,
                max_attempts,
            });
        }
        let specs_custom: Vec<[u64; CUSTOM_DIMS_MAX]> =
            specs.iter().map(|spec| spec.requests.custom).collect();
        let api_uses: Vec<(u32, u64, u64)> = request
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, task)| task.needs.uses_api())
            .map(|(idx, task)| (idx as u32, task.needs.requests, task.needs.tokens))
            .collect();
        let to_forget = self.room_for(specs.len())?;
        for dag in to_forget {
            self.emit(DagEvent::Forgotten { dag, at_ms: now_ms }, events);
        }
        let dag = self.next_dag;
        let submitted = DagSubmitted {
            dag,
            name: request.name,
            tenant: request.tenant,
            priority: request.priority,
            idempotency_key: request.idempotency_key,
            tasks: specs,
            at_ms: now_ms,
        };
        self.emit(DagEvent::Submitted(Box::new(submitted)), events);
        let custom: Vec<(u32, [u64; CUSTOM_DIMS_MAX])> = specs_custom
            .into_iter()
            .enumerate()
            .filter(|(_, amounts)| amounts.iter().any(|&amount| amount > 0))
            .map(|(idx, amounts)| (idx as u32, amounts))
            .collect();
        if !custom.is_empty() {
            let event = DagEvent::CustomRequests {
                dag,
                tasks: custom,
                at_ms: now_ms,
            };
            self.emit(event, events);
        }
        if !api_uses.is_empty() {
            let uses = DagEvent::ApiUses {
                dag,
                tasks: api_uses,
                at_ms: now_ms,
            };
            self.emit(uses, events);
        }
        if let Some(account) = request.account {
            let accounted = DagEvent::Accounted {
                dag,
                account,
                tasks: task_accounts,
                at_ms: now_ms,
            };
            self.emit(accounted, events);
        }
        // Placed at once where machines are free (or borrowed quota can be taken back), not
        // at the next tick.
        self.place(now_ms, events, budget);
        Ok(DagAnswer::Submitted {
            dag,
            duplicate: false,
        })
    }

    /// The finished DAGs to forget, oldest first, so that one more DAG of `n_tasks` fits.
    fn room_for(&self, n_tasks: usize) -> Result<Vec<u64>, DagError> {
        let limits = self.config.limits;
        let mut n_dags = self.dags.len();
        let mut n_kept_tasks = self.n_tasks;
        let mut to_forget = Vec::new();
        let mut finished = self.finished.iter();
        while n_dags + 1 > limits.dags_max || n_kept_tasks + n_tasks > limits.tasks_max {
            let Some(&oldest) = finished.next() else {
                return Err(if n_dags + 1 > limits.dags_max {
                    DagError::LimitReached {
                        what: "dags",
                        limit: limits.dags_max,
                    }
                } else {
                    DagError::LimitReached {
                        what: "tasks",
                        limit: limits.tasks_max,
                    }
                });
            };
            n_dags -= 1;
            n_kept_tasks -= self.dags[&oldest].tasks.len();
            to_forget.push(oldest);
        }
        Ok(to_forget)
    }

    /// The task's effective request and the pools it may run on: those whose limit range
    /// admits it, with a machine large enough, whose quota could ever admit it, and which give
    /// it the same effective request as the first of them (placement needs one request).
    fn admissible_pools(
        &self,
        tenant: &str,
        task: &TaskRequest,
        task_idx: usize,
    ) -> Result<(Resources, u64), DagError> {
        self.check_kind(task, task_idx)?;
        let answers: Vec<PoolAnswer> = self
            .config
            .pools
            .iter()
            .map(|pool| {
                if kind_fits(&pool.kind, &task.needs) {
                    self.pool_answer(tenant, &pool.name, &pool.capacity, task.requests)
                } else {
                    PoolAnswer::OtherKind
                }
            })
            .collect();
        let mut chosen: Option<Resources> = None;
        let mut mask = 0u64;
        for (pool_idx, answer) in answers.iter().enumerate() {
            if let PoolAnswer::Fits(effective) = answer
                && *chosen.get_or_insert(*effective) == *effective
            {
                mask |= 1 << pool_idx;
            }
        }
        if let Some(requests) = chosen {
            return Ok((requests, mask));
        }
        let field = |dimension: &str| format!("tasks[{task_idx}].requests.{dimension}");
        // Nothing fits: a quota refusal says most (the range and the machine were fine there),
        // then a limit range, then the machine size.
        let named = |pool_idx: usize| self.config.pools[pool_idx].name.clone();
        let quota = answers
            .iter()
            .enumerate()
            .find_map(|(idx, answer)| match answer {
                PoolAnswer::Quota(dimension, reason) => Some((idx, *dimension, *reason)),
                _ => None,
            });
        let refusal = |pool_idx: usize, dimension: Dimension, requested: u64, why: String| {
            let name = dimension.name_in(&self.config.custom_dimensions);
            Box::new(Refusal {
                field: field(&name),
                task: task.name.clone(),
                tenant: tenant.to_string(),
                pool: named(pool_idx),
                dimension: name,
                requested,
                available: None,
                why,
            })
        };
        if let Some((pool_idx, dimension, reason)) = quota {
            let requested = self.effective_request(tenant, pool_idx, task.requests);
            return Err(DagError::Quota(refusal(
                pool_idx,
                dimension,
                requested.get(dimension),
                reason.to_string(),
            )));
        }
        for (pool_idx, answer) in answers.iter().enumerate() {
            if let PoolAnswer::LimitRange(SchedError::LimitRange {
                dimension,
                requested,
                min,
                max,
                ..
            }) = answer
            {
                let dimension = Dimension::ALL
                    .into_iter()
                    .find(|candidate| candidate.name() == dimension)
                    .unwrap_or(Dimension::Cores);
                let why = format!("outside [{min}, {max}]");
                return Err(DagError::LimitRange(refusal(
                    pool_idx, dimension, *requested, why,
                )));
            }
        }
        let (pool_idx, dimension, requested) = answers
            .iter()
            .enumerate()
            .find_map(|(idx, answer)| match answer {
                PoolAnswer::TooLarge(dimension, requested) => Some((idx, *dimension, *requested)),
                _ => None,
            })
            .expect("every pool answered, none admitted");
        let available = self.config.pools[pool_idx].capacity.get(dimension);
        let why = format!(
            "more than a machine offers (pool {} has {available})",
            named(pool_idx)
        );
        let mut refusal = refusal(pool_idx, dimension, requested, why);
        refusal.available = Some(available);
        Err(DagError::NoPoolFits(refusal))
    }

    fn effective_request(&self, tenant: &str, pool_idx: usize, request: Resources) -> Resources {
        let pool = &self.config.pools[pool_idx].name;
        let mut effective = self
            .config
            .limit_ranges
            .admit(tenant, pool, request)
            .unwrap_or(request);
        // A task that names no cores and gets none by default takes one, as in the planner.
        if effective.cores == 0 {
            effective.cores = 1;
        }
        effective
    }

    fn pool_answer(
        &self,
        tenant: &str,
        pool: &str,
        capacity: &Resources,
        request: Resources,
    ) -> PoolAnswer {
        let mut effective = match self.config.limit_ranges.admit(tenant, pool, request) {
            Ok(effective) => effective,
            Err(err) => return PoolAnswer::LimitRange(err),
        };
        if effective.cores == 0 {
            effective.cores = 1;
        }
        if let Some(dimension) = Dimension::ALL
            .into_iter()
            .find(|&dimension| effective.get(dimension) > capacity.get(dimension))
        {
            return PoolAnswer::TooLarge(dimension, effective.get(dimension));
        }
        if let Some(quotas) = &self.config.quotas {
            // With nothing else admitted, a refusal means this request can never be admitted.
            let mut empty = quotas.clone();
            if let Err(denial) = empty.try_admit(tenant, pool, &effective) {
                return PoolAnswer::Quota(denial.dimension, denial.reason);
            }
        }
        PoolAnswer::Fits(effective)
    }
}

/// Checks a name: non-empty unless `may_be_empty`, at most `max` bytes, no control characters.
fn check_name(field: &str, text: &str, max: usize, may_be_empty: bool) -> Result<(), DagError> {
    if text.is_empty() && !may_be_empty {
        return Err(DagError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if text.len() > max {
        return Err(DagError::invalid(
            field,
            format!("{field} is {} bytes, at most {max}", text.len()),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(DagError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Each task's parents as indexes: names resolved, duplicates dropped, the DAG acyclic.
fn resolve_parents(
    tasks: &[TaskRequest],
    limits: &super::DagLimits,
) -> Result<Vec<Vec<u32>>, DagError> {
    let mut by_name: HashMap<&str, u32> = HashMap::with_capacity(tasks.len());
    for (task_idx, task) in tasks.iter().enumerate() {
        let field = format!("tasks[{task_idx}].id");
        check_name(&field, &task.name, limits.name_bytes_max, false)?;
        if by_name
            .insert(task.name.as_str(), task_idx as u32)
            .is_some()
        {
            return Err(DagError::invalid(
                field,
                format!("task id {} appears twice", task.name),
            ));
        }
    }
    let mut all_parents = Vec::with_capacity(tasks.len());
    for (task_idx, task) in tasks.iter().enumerate() {
        if task.depends_on.len() > limits.parents_per_task_max {
            return Err(DagError::invalid(
                format!("tasks[{task_idx}].depends_on"),
                format!(
                    "task {} depends on {} tasks, at most {}",
                    task.name,
                    task.depends_on.len(),
                    limits.parents_per_task_max
                ),
            ));
        }
        let mut parents: Vec<u32> = Vec::with_capacity(task.depends_on.len());
        for (dep_idx, parent_name) in task.depends_on.iter().enumerate() {
            let field = format!("tasks[{task_idx}].depends_on[{dep_idx}]");
            let Some(&parent) = by_name.get(parent_name.as_str()) else {
                return Err(DagError::invalid(
                    field,
                    format!("task {} depends on unknown task {parent_name}", task.name),
                ));
            };
            if parent as usize == task_idx {
                return Err(DagError::invalid(
                    field,
                    format!("task {} depends on itself", task.name),
                ));
            }
            if !parents.contains(&parent) {
                parents.push(parent);
            }
        }
        all_parents.push(parents);
    }
    let slices: Vec<&[u32]> = all_parents.iter().map(Vec::as_slice).collect();
    if topological_order(&slices).is_none() {
        let cyclic = first_in_cycle(&slices).unwrap_or(0);
        return Err(DagError::invalid(
            format!("tasks[{cyclic}].depends_on"),
            format!(
                "the dependencies form a cycle through task {}",
                tasks[cyclic].name
            ),
        ));
    }
    Ok(all_parents)
}

/// A task on a cycle. After a topological sort, every task left waiting has a parent left
/// waiting too, so following such parents from any of them must come back to a task seen.
fn first_in_cycle(parents: &[&[u32]]) -> Option<usize> {
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); parents.len()];
    let mut n_waiting: Vec<usize> = parents.iter().map(|task| task.len()).collect();
    for (idx, task_parents) in parents.iter().enumerate() {
        for &parent in *task_parents {
            children[parent as usize].push(idx as u32);
        }
    }
    let mut ready: Vec<usize> = (0..parents.len())
        .filter(|&idx| n_waiting[idx] == 0)
        .collect();
    while let Some(idx) = ready.pop() {
        for &child in &children[idx] {
            n_waiting[child as usize] -= 1;
            if n_waiting[child as usize] == 0 {
                ready.push(child as usize);
            }
        }
    }
    let mut current = n_waiting.iter().position(|&waiting| waiting > 0)?;
    let mut seen = vec![false; parents.len()];
    while !seen[current] {
        seen[current] = true;
        current = *parents[current]
            .iter()
            .find(|&&parent| n_waiting[parent as usize] > 0)? as usize;
    }
    Some(current)
}
