//! Double justification (Valls, Ballestín and Quintanilla 2005, from project scheduling): shift
//! every task of a finished plan as late as it can go without passing the makespan, then, in
//! the order of those late starts, as early as it can go, each on the machine it already has.
//!
//! Both passes keep the plan feasible and neither lengthens it: in the backward pass each task
//! finds its old slot still free (the tasks moved before it end no earlier than it does, so they
//! only left its time window), and the forward pass is the mirror argument. What the passes
//! gain is the room that the list scheduler's one-task-at-a-time choices left: a task started
//! early for no benefit blocked a core that a later, more critical task needed.
//!
//! Only for plans without spot machines or interruptions (one attempt per task).

use crate::engine::Engine;
use crate::profile::Profile;

impl Engine<'_> {
    /// Left-justifies the plan in the order of its right-justified starts. Returns the new
    /// makespan, never more than the old one.
    pub(crate) fn double_justify(&mut self) -> f64 {
        let late_starts = self.right_justified_starts();
        let mut order: Vec<usize> = (0..self.placed.len()).collect();
        // Ties (zero-length tasks) keep the topological order, so parents stay first.
        let topo_position = self.topological_positions();
        order.sort_by(|&a, &b| {
            late_starts[a]
                .total_cmp(&late_starts[b])
                .then(topo_position[a].cmp(&topo_position[b]))
        });
        self.left_justify(&order)
    }

    fn topological_positions(&self) -> Vec<usize> {
        let mut position = vec![0; self.placed.len()];
        for (rank, &task_idx) in self.costs.workflow.topo_order().iter().enumerate() {
            position[task_idx] = rank;
        }
        position
    }

    fn makespan_s(&self) -> f64 {
        self.attempts
            .iter()
            .map(|attempt| attempt.finish)
            .fold(0.0, f64::max)
    }

    /// Each task's start when all are placed as late as possible, latest finish first, on their
    /// machines, under the makespan. Computed in mirrored time (`makespan - t`), where "as late
    /// as possible" is the profile's "as early as possible".
    fn right_justified_starts(&self) -> Vec<f64> {
        let workflow = self.costs.workflow;
        let makespan = self.makespan_s();
        let attempt_of = |task_idx: usize| {
            &self.attempts[self.placed[task_idx].expect("a justified plan is complete")]
        };
        let mut order: Vec<usize> = (0..workflow.len()).collect();
        let topo_position = self.topological_positions();
        order.sort_by(|&a, &b| {
            attempt_of(b)
                .finish
                .total_cmp(&attempt_of(a).finish)
                .then(topo_position[b].cmp(&topo_position[a]))
        });
        let mut mirrored: Vec<Profile> = self.machines.iter().map(|_| Profile::new()).collect();
        let mut late_start = vec![0.0; workflow.len()];
        for task_idx in order {
            let attempt = attempt_of(task_idx);
            let duration = attempt.finish - attempt.start;
            let mut mirrored_ready: f64 = 0.0;
            for child in workflow.children(task_idx) {
                let child_attempt = attempt_of(child.parent);
                let transfer = if child_attempt.machine == attempt.machine {
                    0.0
                } else {
                    self.costs.transfer_s(child.bytes)
                };
                mirrored_ready = mirrored_ready.max(makespan - late_start[child.parent] + transfer);
            }
            let machine = &self.machines[attempt.machine];
            let capacity = self.costs.platform.pools[machine.pool].capacity;
            let request = workflow.tasks()[task_idx].requests;
            let profile = &mut mirrored[attempt.machine];
            let mirrored_start = profile.earliest_fit(mirrored_ready, duration, &request, &capacity);
            profile.add(mirrored_start, mirrored_start + duration, &request);
            late_start[task_idx] = makespan - mirrored_start - duration;
        }
        late_start
    }

    /// Re-places every task, in `order` (a topological order), as early as it fits on its own
    /// machine.
    fn left_justify(&mut self, order: &[usize]) -> f64 {
        for machine in &mut self.machines {
            machine.profile = Profile::new();
            machine.first_start = f64::INFINITY;
            machine.last_end = f64::NEG_INFINITY;
        }
        for &task_idx in order {
            let attempt_idx = self.placed[task_idx].expect("a justified plan is complete");
            let machine_idx = self.attempts[attempt_idx].machine;
            let duration = self.attempts[attempt_idx].finish - self.attempts[attempt_idx].start;
            let machine = &self.machines[machine_idx];
            let capacity = self.costs.platform.pools[machine.pool].capacity;
            let request = self.costs.workflow.tasks()[task_idx].requests;
            let ready = self
                .ready_time(task_idx, Some(machine_idx))
                .max(machine.available_from);
            let start = machine
                .profile
                .earliest_fit(ready, duration, &request, &capacity);
            let attempt = &mut self.attempts[attempt_idx];
            attempt.start = start;
            attempt.finish = start + duration;
            let attempt = attempt.clone();
            self.book(&attempt);
        }
        self.makespan_s()
    }
}
