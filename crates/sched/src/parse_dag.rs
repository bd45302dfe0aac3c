//! The API's DAG shape (`POST /v1/dags`, `purser dag submit`) as a workflow to plan: tasks with
//! their runtime, requests, dependencies, priority, and whether a person does them.

use std::collections::HashMap;

use serde::Deserialize;

use crate::SchedError;
use crate::resources::Resources;
use crate::workflow::{Dep, Task, Workflow};

#[derive(Deserialize)]
struct DagFile {
    name: Option<String>,
    tasks: Vec<DagTask>,
}

#[derive(Deserialize)]
struct DagTask {
    id: String,
    #[serde(default)]
    runtime_ms: u64,
    #[serde(default)]
    requests: DagRequests,
    #[serde(default)]
    depends_on: Vec<String>,
    priority: Option<i32>,
    #[serde(default)]
    person: bool,
    uses: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct DagRequests {
    cores: Option<u64>,
    memory_bytes: Option<u64>,
    gpu: Option<u64>,
    #[serde(flatten)]
    custom: HashMap<String, serde_json::Value>,
}

/// Parses a DAG in the API's shape; the fields planning does not use (tenant, account, ...)
/// are ignored. An API task or a custom dimension is refused: plans are of machines and people.
pub fn parse_dag(text: &str) -> Result<Workflow, SchedError> {
    let file: DagFile =
        serde_json::from_str(text).map_err(|err| SchedError::WorkflowJson(err.to_string()))?;
    let index: HashMap<&str, usize> = file
        .tasks
        .iter()
        .enumerate()
        .map(|(idx, task)| (task.id.as_str(), idx))
        .collect();
    let mut tasks = Vec::with_capacity(file.tasks.len());
    for dag_task in &file.tasks {
        let invalid = |reason: String| SchedError::InvalidTask {
            task: dag_task.id.clone(),
            reason,
        };
        if dag_task.uses.is_some() {
            return Err(invalid(
                "it uses an API: API pools are placed live, not planned".into(),
            ));
        }
        if let Some(name) = dag_task.requests.custom.keys().next() {
            return Err(invalid(format!(
                "it requests {name}: custom dimensions are placed live, not planned"
            )));
        }
        let mut task = Task::new(dag_task.id.clone(), dag_task.runtime_ms as f64 / 1e3);
        task.requests = Resources {
            cores: dag_task.requests.cores.unwrap_or(1).max(1),
            memory_bytes: dag_task.requests.memory_bytes.unwrap_or(0),
            gpu: dag_task.requests.gpu.unwrap_or(0),
            ..Resources::ZERO
        };
        task.priority = dag_task.priority.unwrap_or(0);
        task.person = dag_task.person;
        for parent in &dag_task.depends_on {
            let parent = *index
                .get(parent.as_str())
                .ok_or_else(|| invalid(format!("it depends on {parent}, which is not a task")))?;
            task.parents.push(Dep { parent, bytes: 0 });
        }
        tasks.push(task);
    }
    Workflow::new(file.name.unwrap_or_else(|| "dag".into()), tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_api_shape_and_refuses_what_is_not_planned() {
        let workflow = parse_dag(
            r#"{"tenant": "acme", "name": "release", "tasks": [
                {"id": "build", "runtime_ms": 600000, "requests": {"cores": 4}},
                {"id": "approve", "runtime_ms": 3600000, "person": true, "depends_on": ["build"]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(workflow.name, "release");
        let approve = &workflow.tasks()[1];
        assert!(approve.person);
        assert_eq!(approve.parents[0].parent, 0);
        assert_eq!(workflow.tasks()[0].requests.cores, 4);
        for (text, fragment) in [
            (
                r#"{"tasks": [{"id": "a", "uses": {"requests": 1}}]}"#,
                "uses an API",
            ),
            (
                r#"{"tasks": [{"id": "a", "requests": {"licenses": 1}}]}"#,
                "licenses",
            ),
            (
                r#"{"tasks": [{"id": "a", "depends_on": ["x"]}]}"#,
                "depends on x",
            ),
        ] {
            let err = parse_dag(text).unwrap_err().to_string();
            assert!(err.contains(fragment), "{err} lacks {fragment}");
        }
    }
}
