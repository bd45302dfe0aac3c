//! Random layered DAGs from a seed, for benches and property tests.

use crate::rng::SplitMix64;
use crate::workflow::{Dep, Task, Workflow};

/// A workflow of `n_tasks` in layers of random width (up to twice the square root of the size);
/// each task after the first layer has one to three parents in the layer just before, a runtime
/// of 1 to 600 s and reads up to 100 MB from each parent.
pub fn random_layered_workflow(n_tasks: usize, seed: u64) -> Workflow {
    let mut rng = SplitMix64::new(seed);
    let max_width = ((n_tasks as f64).sqrt() * 2.0).ceil().max(1.0) as u64;
    let mut tasks: Vec<Task> = Vec::with_capacity(n_tasks);
    let mut previous_layer: Vec<usize> = Vec::new();
    while tasks.len() < n_tasks {
        let width = (rng.range_u64(1, max_width) as usize).min(n_tasks - tasks.len());
        let mut layer = Vec::with_capacity(width);
        for _ in 0..width {
            let task_idx = tasks.len();
            let mut task = Task::new(format!("t{task_idx}"), rng.range_u64(1, 600) as f64);
            if !previous_layer.is_empty() {
                let n_parents = rng.range_u64(1, 3) as usize;
                for _ in 0..n_parents {
                    let pick = rng.range_u64(0, previous_layer.len() as u64 - 1) as usize;
                    let parent = previous_layer[pick];
                    if task.parents.iter().all(|dep| dep.parent != parent) {
                        task.parents.push(Dep {
                            parent,
                            bytes: rng.range_u64(0, 100_000_000),
                        });
                    }
                }
            }
            layer.push(task_idx);
            tasks.push(task);
        }
        previous_layer = layer;
    }
    Workflow::new(format!("layered-{n_tasks}-{seed}"), tasks)
        .expect("a layered DAG is acyclic with unique ids")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_the_asked_size_deterministically() {
        let a = random_layered_workflow(300, 9);
        let b = random_layered_workflow(300, 9);
        assert_eq!(a.len(), 300);
        assert_eq!(a.tasks(), b.tasks());
        assert_ne!(a.tasks(), random_layered_workflow(300, 10).tasks());
        assert!(
            a.tasks()
                .iter()
                .skip(1)
                .any(|task| !task.parents.is_empty())
        );
    }
}
