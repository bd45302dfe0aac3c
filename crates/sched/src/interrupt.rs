//! Simulated spot interruptions on a planned [`ListScheduler`]: cut the running attempts, drop what
//! has not started, replace the machine, and let the caller re-plan from that moment.

use crate::list_scheduler::{Attempt, ListScheduler, PlanMachine};
use crate::profile::Profile;

impl ListScheduler<'_> {
    /// The earliest interruption that cuts planned work, if any: (time, machine).
    pub(crate) fn next_interruption(&self) -> Option<(f64, usize)> {
        self.machines
            .iter()
            .enumerate()
            .filter(|(_, machine)| machine.opened && machine.spot && !machine.dead)
            .filter(|(_, machine)| machine.interrupt_at < machine.last_end)
            .map(|(machine_idx, machine)| (machine.interrupt_at, machine_idx))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// Applies an interruption of `machine_idx` at `time`: the attempts running on it end there,
    /// everything not started elsewhere by then is unplaced, and the pool gets a fresh slot.
    pub(crate) fn interrupt(&mut self, machine_idx: usize, time: f64) {
        let old = std::mem::take(&mut self.attempts);
        self.placed.iter_mut().for_each(|placed| *placed = None);
        for attempt in old {
            if attempt.interrupted {
                // Regression: an attempt cut by an earlier interruption once passed for the
                // task's final placement here, so the task was never retried.
                self.attempts.push(attempt);
                continue;
            }
            if attempt.start >= time {
                // Never started: the task is re-planned and this attempt number is reused.
                self.n_attempts[attempt.task] -= 1;
                continue;
            }
            if attempt.machine == machine_idx && attempt.finish > time {
                let pool_idx = self.machines[machine_idx].pool;
                let full = self.costs.runtime(attempt.task, pool_idx);
                let elapsed = time - attempt.start;
                let saved = match self.costs.workflow.tasks()[attempt.task].checkpoint_interval_s {
                    Some(interval) => (elapsed / interval).floor() * interval,
                    None => 0.0,
                };
                if full > 0.0 {
                    self.remaining[attempt.task] =
                        (self.remaining[attempt.task] - saved / full).max(0.0);
                }
                self.attempts.push(Attempt {
                    finish: time,
                    interrupted: true,
                    ..attempt
                });
                continue;
            }
            self.placed[attempt.task] = Some(self.attempts.len());
            self.attempts.push(attempt);
        }
        self.kill(machine_idx);
        // Regression: a spot machine interrupted while idle must not take work after its
        // interruption, or a later event would move time backwards.
        let idle_dead: Vec<usize> = (0..self.machines.len())
            .filter(|&idx| {
                let machine = &self.machines[idx];
                machine.opened && machine.spot && !machine.dead && machine.interrupt_at <= time
            })
            .collect();
        for idx in idle_dead {
            self.kill(idx);
        }
        self.floor = time;
        self.rebuild_machines();
    }

    fn kill(&mut self, machine_idx: usize) {
        let pool_idx = self.machines[machine_idx].pool;
        let next_index = self
            .machines
            .iter()
            .filter(|m| m.pool == pool_idx)
            .map(|m| m.index + 1)
            .max()
            .unwrap_or(0);
        self.machines[machine_idx].dead = true;
        self.machines.push(PlanMachine::new(pool_idx, next_index));
    }

    fn rebuild_machines(&mut self) {
        for machine in &mut self.machines {
            machine.profile = Profile::new();
            machine.first_start = f64::INFINITY;
            machine.last_end = f64::NEG_INFINITY;
        }
        for attempt_idx in 0..self.attempts.len() {
            let attempt = self.attempts[attempt_idx].clone();
            self.book(&attempt);
        }
        for machine in &mut self.machines {
            if machine.opened && !machine.dead && machine.first_start.is_infinite() {
                // All of its work was re-planned before it started: it was never needed.
                machine.opened = false;
                machine.spot = false;
                machine.interrupt_at = f64::INFINITY;
            }
        }
    }
}
