//! Tasks and their DAG, validated once and then read by every algorithm.

use crate::SchedError;
use crate::resources::Resources;

/// A dependency on a parent task and the bytes the child reads from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dep {
    pub parent: usize,
    /// Bytes of the parent's outputs that the child reads (0 for an order-only edge).
    pub bytes: u64,
}

/// One task of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The id from the workflow file.
    pub id: String,
    /// Recorded runtime on a machine of speed 1.0.
    pub runtime_s: f64,
    pub requests: Resources,
    /// Higher runs first; 0 by default.
    pub priority: i32,
    pub tenant: String,
    /// None: an interrupted attempt restarts from scratch.
    pub checkpoint_interval_s: Option<f64>,
    pub parents: Vec<Dep>,
    /// Done by a person (a review, an approval): planned on a people pool, in working hours.
    pub person: bool,
}

impl Task {
    /// A one-core task with no parents, the default tenant and priority 0.
    pub fn new(id: impl Into<String>, runtime_s: f64) -> Self {
        Task {
            id: id.into(),
            runtime_s,
            requests: Resources::cores(1),
            priority: 0,
            tenant: "default".to_string(),
            checkpoint_interval_s: None,
            parents: Vec::new(),
            person: false,
        }
    }
}

/// A validated DAG of tasks.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    tasks: Vec<Task>,
    children: Vec<Vec<Dep>>,
    topo_order: Vec<usize>,
    /// `explicit_runtimes[task][pool]` overrides `runtime_s / speed` (the HEFT paper's matrix).
    explicit_runtimes: Option<Vec<Vec<f64>>>,
}

impl Workflow {
    /// Validates ids, parents, runtimes and acyclicity.
    pub fn new(name: impl Into<String>, tasks: Vec<Task>) -> Result<Self, SchedError> {
        let mut seen = std::collections::HashSet::with_capacity(tasks.len());
        for task in &tasks {
            if !seen.insert(task.id.as_str()) {
                return Err(SchedError::DuplicateTask(task.id.clone()));
            }
            let invalid = |reason: &str| SchedError::InvalidTask {
                task: task.id.clone(),
                reason: reason.to_string(),
            };
            if !(task.runtime_s.is_finite() && task.runtime_s >= 0.0) {
                return Err(invalid("runtime must be finite and zero or more"));
            }
            if let Some(interval) = task.checkpoint_interval_s
                && !(interval.is_finite() && interval > 0.0)
            {
                return Err(invalid("checkpoint interval must be positive"));
            }
            for dep in &task.parents {
                if dep.parent >= tasks.len() {
                    return Err(invalid("parent index out of range"));
                }
            }
        }
        let mut children = vec![Vec::new(); tasks.len()];
        for (task_idx, task) in tasks.iter().enumerate() {
            for dep in &task.parents {
                children[dep.parent].push(Dep {
                    parent: task_idx,
                    bytes: dep.bytes,
                });
            }
        }
        let topo_order = topological_order(&tasks, &children)?;
        Ok(Workflow {
            name: name.into(),
            tasks,
            children,
            topo_order,
            explicit_runtimes: None,
        })
    }

    /// Gives each task an explicit runtime per pool (`runtimes[task][pool]`), as in the HEFT
    /// paper's cost matrix. Checked against the platform when planning.
    pub fn with_explicit_runtimes(mut self, runtimes: Vec<Vec<f64>>) -> Result<Self, SchedError> {
        if runtimes.len() != self.tasks.len() {
            return Err(SchedError::ExplicitRuntimes(format!(
                "{} rows for {} tasks",
                runtimes.len(),
                self.tasks.len()
            )));
        }
        if runtimes
            .iter()
            .flatten()
            .any(|cost| !(cost.is_finite() && *cost >= 0.0))
        {
            return Err(SchedError::ExplicitRuntimes(
                "a runtime is negative or not finite".into(),
            ));
        }
        self.explicit_runtimes = Some(runtimes);
        Ok(self)
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Children of a task, each with the bytes it reads (the `parent` field holds the child).
    pub fn children(&self, task_idx: usize) -> &[Dep] {
        &self.children[task_idx]
    }

    /// Parents before children.
    pub fn topo_order(&self) -> &[usize] {
        &self.topo_order
    }

    pub fn explicit_runtimes(&self) -> Option<&Vec<Vec<f64>>> {
        self.explicit_runtimes.as_ref()
    }

    /// Sets every task's tenant, priority or requests after parsing (the file formats lack them).
    pub fn tasks_mut(&mut self) -> impl Iterator<Item = &mut Task> {
        // Only fields that do not change the DAG are meant to be edited; the DAG is derived once.
        self.tasks.iter_mut()
    }
}

fn topological_order(tasks: &[Task], children: &[Vec<Dep>]) -> Result<Vec<usize>, SchedError> {
    let mut n_waiting: Vec<usize> = tasks.iter().map(|task| task.parents.len()).collect();
    let mut ready: Vec<usize> = (0..tasks.len())
        .filter(|&idx| n_waiting[idx] == 0)
        .collect();
    ready.reverse();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(task_idx) = ready.pop() {
        order.push(task_idx);
        for child in &children[task_idx] {
            n_waiting[child.parent] -= 1;
            if n_waiting[child.parent] == 0 {
                ready.push(child.parent);
            }
        }
    }
    if order.len() != tasks.len() {
        let stuck = (0..tasks.len())
            .find(|&idx| n_waiting[idx] > 0)
            .unwrap_or(0);
        return Err(SchedError::Cycle(tasks[stuck].id.clone()));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, parents: &[usize]) -> Task {
        let mut task = Task::new(id, 1.0);
        task.parents = parents
            .iter()
            .map(|&parent| Dep { parent, bytes: 0 })
            .collect();
        task
    }

    fn check(tasks: Vec<Task>, expected: Result<(), &str>) {
        match (Workflow::new("w", tasks), expected) {
            (Ok(workflow), Ok(())) => {
                let order = workflow.topo_order();
                let mut position = vec![0; order.len()];
                for (rank, &idx) in order.iter().enumerate() {
                    position[idx] = rank;
                }
                for (idx, task) in workflow.tasks().iter().enumerate() {
                    for dep in &task.parents {
                        assert!(position[dep.parent] < position[idx]);
                    }
                }
            }
            (Err(err), Err(fragment)) => {
                assert!(err.to_string().contains(fragment), "{err} lacks {fragment}")
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn validates_dags() {
        check(
            vec![task("a", &[]), task("b", &[0]), task("c", &[0, 1])],
            Ok(()),
        );
        check(vec![task("a", &[1]), task("b", &[0])], Err("cycle"));
        check(
            vec![task("a", &[]), task("a", &[])],
            Err("task id a appears twice"),
        );
        check(vec![task("a", &[5])], Err("task a is invalid"));
        let mut negative = task("n", &[]);
        negative.runtime_s = -1.0;
        check(vec![negative], Err("task n is invalid"));
    }
}
