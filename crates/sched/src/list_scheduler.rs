//! The list scheduler that every algorithm drives: machines with usage profiles, insertion-based
//! earliest finish, and attempts that can be cut by a simulated interruption and re-planned.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::bheft::BudgetRule;
use crate::calendar::WorkingHours;
use crate::costs::Costs;
use crate::platform::PoolKind;
use crate::profile::Profile;
use crate::rng::SplitMix64;

/// A machine slot of a pool. Unopened slots are machines the plan may still start.
#[derive(Debug, Clone)]
pub(crate) struct PlanMachine {
    pub pool: usize,
    pub index: u32,
    pub spot: bool,
    pub opened: bool,
    /// Set when a spot interruption took the machine away.
    pub dead: bool,
    /// When the simulated interruption will hit (spot machines only).
    pub interrupt_at: f64,
    /// When the machine can take its first task: the plan's floor at its opening plus the
    /// pool's start-up. Work inserted before its first task never starts earlier.
    pub available_from: f64,
    pub profile: Profile,
    pub first_start: f64,
    pub last_end: f64,
}

impl PlanMachine {
    pub(crate) fn new(pool: usize, index: u32) -> Self {
        PlanMachine {
            pool,
            index,
            spot: false,
            opened: false,
            dead: false,
            interrupt_at: f64::INFINITY,
            available_from: f64::INFINITY,
            profile: Profile::new(),
            first_start: f64::INFINITY,
            last_end: f64::NEG_INFINITY,
        }
    }
}

/// One run of a task on a machine (an interrupted one ends at the interruption).
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub task: usize,
    pub machine: usize,
    pub start: f64,
    pub finish: f64,
    pub number: u32,
    /// Cut by an interruption: kept for the record and the bill, never a task's final attempt.
    pub interrupted: bool,
}

/// How a machine is chosen for a task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selection {
    /// Add PEFT's optimistic cost of the rest of the workflow to the finish time.
    pub lookahead: bool,
    pub finish_weight: f64,
    pub cost_weight: f64,
    pub fragmentation_weight: f64,
}

impl Selection {
    /// Classic HEFT: the earliest finish time, first machine on ties.
    pub(crate) const EARLIEST_FINISH: Selection = Selection {
        lookahead: false,
        finish_weight: 1.0,
        cost_weight: 0.0,
        fragmentation_weight: 0.0,
    };
}

/// When a task may run on a spot machine: its latest finish (deadline minus the optimistic tail)
/// must leave room for an interruption: the work since the last checkpoint plus the wait for
/// another machine (the shortest start-up among the pools it fits, as a running machine may
/// take it at once). Or the interruption is unlikely: the task ends before `safe_until_s` of
/// its pool, the time by which a machine started at 0 s is interrupted with the accepted risk.
#[derive(Debug, Clone)]
pub(crate) struct SpotRule {
    pub latest_finish: Vec<f64>,
    pub restart_wait_s: Vec<f64>,
    pub safe_until_s: Vec<f64>,
}

struct Candidate {
    machine: Option<usize>,
    pool: usize,
    spot: bool,
    start: f64,
    finish: f64,
    key_finish: f64,
    cost: f64,
    fragmentation: f64,
}

#[derive(PartialEq)]
struct Ready {
    priority: i32,
    rank: f64,
    task: usize,
}

impl Eq for Ready {}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then(self.rank.total_cmp(&other.rank))
            .then(other.task.cmp(&self.task))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub(crate) struct ListScheduler<'a> {
    pub costs: &'a Costs<'a>,
    pub machines: Vec<PlanMachine>,
    pub attempts: Vec<Attempt>,
    /// Attempt index of each task's current (last) attempt, if placed.
    pub placed: Vec<Option<usize>>,
    /// Fraction of each task's work still to do (checkpoints lower it).
    pub remaining: Vec<f64>,
    pub n_attempts: Vec<u32>,
    /// Nothing new starts before this time (the moment of the last re-plan).
    pub floor: f64,
    oct: Option<&'a [f64]>,
    /// Budget-constrained placement (BHEFT), when set.
    budget: Option<BudgetRule>,
}

impl<'a> ListScheduler<'a> {
    pub(crate) fn new(costs: &'a Costs<'a>, oct: Option<&'a [f64]>) -> Self {
        let mut machines = Vec::new();
        for (pool_idx, pool) in costs.platform.pools.iter().enumerate() {
            machines.extend((0..pool.machines).map(|index| PlanMachine::new(pool_idx, index)));
        }
        let n_tasks = costs.workflow.len();
        ListScheduler {
            costs,
            machines,
            attempts: Vec::with_capacity(n_tasks),
            placed: vec![None; n_tasks],
            remaining: vec![1.0; n_tasks],
            n_attempts: vec![0; n_tasks],
            floor: 0.0,
            oct,
            budget: None,
        }
    }

    /// Places under a budget of `budget_micros` (BHEFT; see [`BudgetRule`]).
    pub(crate) fn with_budget(mut self, budget_micros: f64) -> Self {
        self.budget = Some(BudgetRule::new(self.costs, budget_micros));
        self
    }

    /// Places every task not placed yet, highest (priority, rank) first among ready tasks.
    pub(crate) fn place_all(
        &mut self,
        rank: &[f64],
        selection: &Selection,
        spot: Option<&SpotRule>,
        rng: &mut SplitMix64,
    ) {
        let workflow = self.costs.workflow;
        let mut n_waiting: Vec<usize> = workflow
            .tasks()
            .iter()
            .map(|task| {
                task.parents
                    .iter()
                    .filter(|dep| self.placed[dep.parent].is_none())
                    .count()
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (task_idx, task) in workflow.tasks().iter().enumerate() {
            if self.placed[task_idx].is_none() && n_waiting[task_idx] == 0 {
                heap.push(Ready {
                    priority: task.priority,
                    rank: rank[task_idx],
                    task: task_idx,
                });
            }
        }
        while let Some(Ready { task: task_idx, .. }) = heap.pop() {
            self.place_one(task_idx, selection, spot, rng);
            for child in workflow.children(task_idx) {
                n_waiting[child.parent] -= 1;
                if n_waiting[child.parent] == 0 {
                    let child_task = &workflow.tasks()[child.parent];
                    heap.push(Ready {
                        priority: child_task.priority,
                        rank: rank[child.parent],
                        task: child.parent,
                    });
                }
            }
        }
    }

    fn ready_time(&self, task_idx: usize, machine: Option<usize>) -> f64 {
        let mut ready = self.floor;
        for dep in &self.costs.workflow.tasks()[task_idx].parents {
            let attempt =
                &self.attempts[self.placed[dep.parent].expect("parents are placed first")];
            let transfer = if Some(attempt.machine) == machine {
                0.0
            } else {
                self.costs.transfer_s(dep.bytes)
            };
            ready = ready.max(attempt.finish + transfer);
        }
        ready
    }

    fn price_per_s(&self, pool_idx: usize, spot: bool) -> f64 {
        let pool = &self.costs.platform.pools[pool_idx];
        let per_hour = if spot {
            pool.spot_per_hour_micros.unwrap_or(0)
        } else {
            pool.on_demand_per_hour_micros
        };
        per_hour as f64 / 3600.0
    }

    fn spot_allowed(
        &self,
        task_idx: usize,
        pool_idx: usize,
        finish: f64,
        spot: Option<&SpotRule>,
    ) -> bool {
        let Some(rule) = spot else { return false };
        if finish <= rule.safe_until_s[pool_idx] {
            return true;
        }
        let duration = self.costs.runtime(task_idx, pool_idx) * self.remaining[task_idx];
        let lost_work = match self.costs.workflow.tasks()[task_idx].checkpoint_interval_s {
            Some(interval) => duration.min(interval),
            None => duration,
        };
        rule.latest_finish[task_idx] - finish >= rule.restart_wait_s[task_idx] + lost_work
    }

    fn evaluate(
        &self,
        task_idx: usize,
        machine: Option<usize>,
        pool_idx: usize,
        spot: bool,
    ) -> Option<Candidate> {
        let pool = &self.costs.platform.pools[pool_idx];
        let duration = self.costs.runtime(task_idx, pool_idx) * self.remaining[task_idx];
        if !duration.is_finite() {
            return None;
        }
        if let PoolKind::People(hours) = &pool.kind {
            return self.evaluate_person(task_idx, machine, pool_idx, hours, duration);
        }
        let request = &self.costs.workflow.tasks()[task_idx].requests;
        let ready = self.ready_time(task_idx, machine);
        let (start, fragmentation, cost_span) = match machine {
            Some(machine_idx) => {
                let machine = &self.machines[machine_idx];
                // Regression: an opened machine once took a task in the hole before its first
                // one, earlier than its start-up allows.
                let start = machine.profile.earliest_fit(
                    ready.max(machine.available_from),
                    duration,
                    request,
                    &pool.capacity,
                );
                let used = machine.profile.usage_at(start).cores + request.cores;
                let old_span = machine.last_end - machine.first_start;
                let new_span =
                    machine.last_end.max(start + duration) - machine.first_start.min(start);
                (
                    start,
                    1.0 - used as f64 / pool.capacity.cores as f64,
                    new_span - old_span,
                )
            }
            None => {
                let start = ready.max(self.floor + pool.startup_s);
                let fragmentation = 1.0 - request.cores as f64 / pool.capacity.cores as f64;
                (start, fragmentation, duration + pool.startup_s)
            }
        };
        if !start.is_finite() {
            return None;
        }
        let finish = start + duration;
        let lookahead = self.oct.map_or(0.0, |oct| {
            oct[task_idx * self.costs.platform.pools.len() + pool_idx]
        });
        Some(Candidate {
            machine,
            pool: pool_idx,
            spot,
            start,
            finish,
            key_finish: finish + lookahead,
            cost: cost_span * self.price_per_s(pool_idx, spot),
            fragmentation,
        })
    }

    /// A person's task: one at a time per person, started at the first working moment once it
    /// is ready and they are free, and finished when its work is done in working time (the
    /// nights and weekends in between count as waiting).
    fn evaluate_person(
        &self,
        task_idx: usize,
        machine: Option<usize>,
        pool_idx: usize,
        hours: &WorkingHours,
        duration: f64,
    ) -> Option<Candidate> {
        let ready = self.ready_time(task_idx, machine);
        let free = match machine {
            Some(machine_idx) => {
                let person = &self.machines[machine_idx];
                person.last_end.max(person.available_from)
            }
            None => self.floor,
        };
        let start_ms = hours.next_working(self.costs.instant_ms(ready.max(free)))?;
        let finish_ms = hours.add_working(start_ms, (duration * 1e3).ceil() as u64)?;
        let (start, finish) = (
            self.costs.plan_time_s(start_ms),
            self.costs.plan_time_s(finish_ms),
        );
        let lookahead = self.oct.map_or(0.0, |oct| {
            oct[task_idx * self.costs.platform.pools.len() + pool_idx]
        });
        Some(Candidate {
            machine,
            pool: pool_idx,
            spot: false,
            start,
            finish,
            key_finish: finish + lookahead,
            // People are paid for their working time on it.
            cost: duration * self.price_per_s(pool_idx, false),
            fragmentation: 0.0,
        })
    }

    /// With `any_spot`, spot machines take the task whatever its slack: used when every slot
    /// of the pools it fits is already a spot machine.
    fn candidates(
        &self,
        task_idx: usize,
        selection: &Selection,
        spot: Option<&SpotRule>,
        any_spot: bool,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut fresh_seen = vec![false; self.costs.platform.pools.len()];
        for (machine_idx, machine) in self.machines.iter().enumerate() {
            if machine.dead {
                continue;
            }
            if machine.opened {
                if let Some(candidate) =
                    self.evaluate(task_idx, Some(machine_idx), machine.pool, machine.spot)
                    && (!machine.spot
                        || any_spot
                        || self.spot_allowed(task_idx, machine.pool, candidate.finish, spot))
                {
                    out.push(candidate);
                }
                continue;
            }
            if fresh_seen[machine.pool] {
                continue;
            }
            fresh_seen[machine.pool] = true;
            let Some(candidate) = self.evaluate(task_idx, None, machine.pool, false) else {
                continue;
            };
            let pool = &self.costs.platform.pools[machine.pool];
            if pool.spot_per_hour_micros.is_some()
                && selection.cost_weight > 0.0
                && self.spot_allowed(task_idx, machine.pool, candidate.finish, spot)
            {
                let spot_candidate = self.evaluate(task_idx, None, machine.pool, true);
                out.extend(spot_candidate);
            }
            out.push(candidate);
        }
        out
    }

    fn choose(candidates: &[Candidate], selection: &Selection) -> usize {
        let min_key = candidates
            .iter()
            .map(|c| c.key_finish)
            .fold(f64::INFINITY, f64::min);
        let min_cost = candidates
            .iter()
            .map(|c| c.cost)
            .fold(f64::INFINITY, f64::min);
        let max_cost = candidates.iter().map(|c| c.cost).fold(0.0, f64::max);
        let min_duration = candidates
            .iter()
            .map(|c| c.finish - c.start)
            .fold(f64::INFINITY, f64::min);
        let time_scale = min_duration.max(1.0);
        let cost_scale = (max_cost - min_cost).max(1e-9);
        let score = |c: &Candidate| {
            selection.finish_weight * (c.key_finish - min_key) / time_scale
                + selection.cost_weight * (c.cost - min_cost) / cost_scale
                + selection.fragmentation_weight * c.fragmentation
        };
        let mut best = 0;
        for idx in 1..candidates.len() {
            let (a, b) = (score(&candidates[idx]), score(&candidates[best]));
            if a < b || (a == b && candidates[idx].key_finish < candidates[best].key_finish) {
                best = idx;
            }
        }
        best
    }

    fn place_one(
        &mut self,
        task_idx: usize,
        selection: &Selection,
        spot: Option<&SpotRule>,
        rng: &mut SplitMix64,
    ) {
        let mut candidates = self.candidates(task_idx, selection, spot, false);
        if candidates.is_empty() {
            candidates = self.candidates(task_idx, selection, spot, true);
        }
        // Invariant: Costs::new checked that every task fits some pool, and a pool always keeps
        // one live slot (a dead machine is replaced), so there is a candidate.
        assert!(!candidates.is_empty(), "task {task_idx} has no machine");
        let chosen = match &mut self.budget {
            Some(rule) => {
                let options: Vec<(f64, f64)> = candidates
                    .iter()
                    .map(|candidate| (candidate.finish, candidate.cost))
                    .collect();
                &candidates[rule.choose(task_idx, &options)]
            }
            None => &candidates[Self::choose(&candidates, selection)],
        };
        let machine_idx = match chosen.machine {
            Some(machine_idx) => machine_idx,
            None => self.open(chosen.pool, chosen.spot, chosen.start, rng),
        };
        self.n_attempts[task_idx] += 1;
        let attempt = Attempt {
            task: task_idx,
            machine: machine_idx,
            start: chosen.start,
            finish: chosen.finish,
            number: self.n_attempts[task_idx],
            interrupted: false,
        };
        self.book(&attempt);
        self.placed[task_idx] = Some(self.attempts.len());
        self.attempts.push(attempt);
    }

    fn open(&mut self, pool_idx: usize, spot: bool, start: f64, rng: &mut SplitMix64) -> usize {
        let pool = &self.costs.platform.pools[pool_idx];
        let machine_idx = self
            .machines
            .iter()
            .position(|machine| machine.pool == pool_idx && !machine.opened && !machine.dead)
            .expect("a fresh candidate comes from an unopened slot");
        let machine = &mut self.machines[machine_idx];
        machine.opened = true;
        machine.spot = spot;
        machine.available_from = self.floor + pool.startup_s;
        if spot {
            let boot = start - pool.startup_s;
            machine.interrupt_at = boot + rng.exponential(pool.interruptions_per_hour / 3600.0);
        }
        machine_idx
    }

    /// The last finish of the attempts placed so far.
    pub(crate) fn makespan_s(&self) -> f64 {
        self.attempts
            .iter()
            .map(|attempt| attempt.finish)
            .fold(0.0, f64::max)
    }

    pub(crate) fn book(&mut self, attempt: &Attempt) {
        if let Some(rule) = &mut self.budget {
            rule.spend(attempt.task);
        }
        let request = self.costs.workflow.tasks()[attempt.task].requests;
        let machine = &mut self.machines[attempt.machine];
        machine.profile.add(attempt.start, attempt.finish, &request);
        machine.first_start = machine.first_start.min(attempt.start);
        machine.last_end = machine.last_end.max(attempt.finish);
    }
}
