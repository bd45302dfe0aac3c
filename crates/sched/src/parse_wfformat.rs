//! WfCommons WfFormat (schema 1.5) JSON to a [`Workflow`].

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use crate::SchedError;
use crate::resources::Resources;
use crate::workflow::{Dep, Task, Workflow};

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    name: Option<String>,
    workflow: Body,
}

#[derive(Deserialize)]
struct Body {
    specification: Specification,
    #[serde(default)]
    execution: Option<Execution>,
}

#[derive(Deserialize)]
struct Specification {
    tasks: Vec<SpecTask>,
    #[serde(default)]
    files: Vec<SpecFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecTask {
    id: String,
    #[serde(default)]
    parents: Vec<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    input_files: Vec<Value>,
    #[serde(default)]
    output_files: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFile {
    id: String,
    #[serde(default)]
    size_in_bytes: u64,
}

#[derive(Deserialize)]
struct Execution {
    #[serde(default)]
    tasks: Vec<ExecTask>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecTask {
    id: String,
    #[serde(default)]
    runtime_in_seconds: Option<f64>,
    #[serde(default)]
    core_count: Option<u64>,
    #[serde(default)]
    cores: Option<u64>,
}

/// A file reference is a plain id in schema 1.5 and an object with `id` or `name` before it.
fn file_id(value: &Value) -> Option<&str> {
    match value {
        Value::String(id) => Some(id),
        Value::Object(map) => map
            .get("id")
            .or_else(|| map.get("name"))
            .and_then(Value::as_str),
        _ => None,
    }
}

/// Parses a WfFormat JSON instance. Runtimes come from `workflow.execution.tasks`; a task
/// without one runs for 0 s. A task uses one core unless its execution record says otherwise.
/// An edge carries the bytes of the files the parent writes and the child reads.
pub fn parse_wfformat(text: &str) -> Result<Workflow, SchedError> {
    let file: File =
        serde_json::from_str(text).map_err(|err| SchedError::WorkflowJson(err.to_string()))?;
    let spec = file.workflow.specification;
    let sizes: HashMap<&str, u64> = spec
        .files
        .iter()
        .map(|file| (file.id.as_str(), file.size_in_bytes))
        .collect();
    let index: HashMap<&str, usize> = spec
        .tasks
        .iter()
        .enumerate()
        .map(|(idx, task)| (task.id.as_str(), idx))
        .collect();
    let executions: HashMap<&str, &ExecTask> = file
        .workflow
        .execution
        .as_ref()
        .map(|execution| {
            execution
                .tasks
                .iter()
                .map(|task| (task.id.as_str(), task))
                .collect()
        })
        .unwrap_or_default();

    // Parents come from both `parents` and the parents' `children` lists, deduplicated.
    let mut parent_sets: Vec<Vec<usize>> = vec![Vec::new(); spec.tasks.len()];
    for (task_idx, task) in spec.tasks.iter().enumerate() {
        for parent_id in &task.parents {
            let parent_idx =
                *index
                    .get(parent_id.as_str())
                    .ok_or_else(|| SchedError::UnknownParent {
                        task: task.id.clone(),
                        parent: parent_id.clone(),
                    })?;
            parent_sets[task_idx].push(parent_idx);
        }
        for child_id in &task.children {
            let child_idx =
                *index
                    .get(child_id.as_str())
                    .ok_or_else(|| SchedError::UnknownParent {
                        task: child_id.clone(),
                        parent: task.id.clone(),
                    })?;
            parent_sets[child_idx].push(task_idx);
        }
    }

    let mut tasks = Vec::with_capacity(spec.tasks.len());
    for (task_idx, spec_task) in spec.tasks.iter().enumerate() {
        let execution = executions.get(spec_task.id.as_str());
        let runtime_s = execution
            .and_then(|exec| exec.runtime_in_seconds)
            .unwrap_or(0.0);
        let cores = execution
            .and_then(|exec| exec.cores.or(exec.core_count))
            .unwrap_or(1)
            .max(1);
        let mut parents = std::mem::take(&mut parent_sets[task_idx]);
        parents.sort_unstable();
        parents.dedup();
        let inputs: Vec<&str> = spec_task.input_files.iter().filter_map(file_id).collect();
        let deps = parents
            .into_iter()
            .map(|parent_idx| {
                let bytes = spec.tasks[parent_idx]
                    .output_files
                    .iter()
                    .filter_map(file_id)
                    .filter(|output| inputs.contains(output))
                    .map(|output| sizes.get(output).copied().unwrap_or(0))
                    .fold(0u64, u64::saturating_add);
                Dep {
                    parent: parent_idx,
                    bytes,
                }
            })
            .collect();
        let mut task = Task::new(spec_task.id.clone(), runtime_s);
        task.requests = Resources::cores(cores);
        task.parents = deps;
        tasks.push(task);
    }
    Workflow::new(file.name.unwrap_or_else(|| "workflow".into()), tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
      "name": "tiny",
      "workflow": {
        "specification": {
          "tasks": [
            {"id": "a", "parents": [], "children": ["b"], "inputFiles": [], "outputFiles": ["f1", "f2"]},
            {"id": "b", "parents": ["a"], "children": [], "inputFiles": ["f1", "x"], "outputFiles": []}
          ],
          "files": [{"id": "f1", "sizeInBytes": 1000}, {"id": "f2", "sizeInBytes": 5}, {"id": "x", "sizeInBytes": 7}]
        },
        "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 2.5, "coreCount": 4}, {"id": "b", "runtimeInSeconds": 1}]}
      }
    }"#;

    #[test]
    fn parses_runtimes_cores_and_shared_file_bytes() {
        let workflow = parse_wfformat(SMALL).unwrap();
        let tasks = workflow.tasks();
        assert_eq!(workflow.name, "tiny");
        assert_eq!(tasks[0].runtime_s, 2.5);
        assert_eq!(tasks[0].requests.cores, 4);
        assert_eq!(tasks[1].requests.cores, 1);
        assert_eq!(
            tasks[1].parents,
            vec![Dep {
                parent: 0,
                bytes: 1000
            }]
        );
    }

    #[test]
    fn rejects_unknown_parents_and_bad_json() {
        let bad = SMALL.replace(r#""parents": ["a"]"#, r#""parents": ["zz"]"#);
        let err = parse_wfformat(&bad).unwrap_err().to_string();
        assert!(err.contains("unknown task zz"), "{err}");
        assert!(
            parse_wfformat("{")
                .unwrap_err()
                .to_string()
                .contains("workflow json")
        );
    }
}
