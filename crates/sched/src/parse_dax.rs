//! Pegasus DAX (2.x) XML to a [`Workflow`].

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::SchedError;
use crate::workflow::{Dep, Task, Workflow};

struct Job {
    id: String,
    runtime_s: f64,
    inputs: Vec<String>,
    outputs: HashMap<String, u64>,
    input_sizes: HashMap<String, u64>,
}

fn attributes(element: &BytesStart) -> Result<HashMap<String, String>, SchedError> {
    let mut out = HashMap::new();
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|err| SchedError::WorkflowDax(err.to_string()))?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        let value = attribute
            .unescape_value()
            .map_err(|err| SchedError::WorkflowDax(err.to_string()))?
            .into_owned();
        out.insert(key, value);
    }
    Ok(out)
}

fn required<'a>(
    attrs: &'a HashMap<String, String>,
    key: &str,
    element: &str,
) -> Result<&'a str, SchedError> {
    attrs
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| SchedError::WorkflowDax(format!("<{element}> lacks attribute {key}")))
}

/// Parses a DAX file: `<job id runtime>` with `<uses file link size>` children, and
/// `<child ref><parent ref/></child>` dependencies. An edge carries the bytes of the files the
/// parent writes (`link="output"`) and the child reads (`link="input"`), matched by file name.
pub fn parse_dax(text: &str) -> Result<Workflow, SchedError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut name = String::from("workflow");
    let mut jobs: Vec<Job> = Vec::new();
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut current_child: Option<String> = None;
    loop {
        let event = reader.read_event().map_err(|err| {
            SchedError::WorkflowDax(format!("at byte {}: {err}", reader.buffer_position()))
        })?;
        match event {
            Event::Start(element) | Event::Empty(element) => {
                let local = element.local_name();
                let attrs = attributes(&element)?;
                match local.as_ref() {
                    b"adag" => {
                        if let Some(adag_name) = attrs.get("name") {
                            name = adag_name.clone();
                        }
                    }
                    b"job" => {
                        let id = required(&attrs, "id", "job")?.to_string();
                        let runtime_text = attrs.get("runtime").map(String::as_str).unwrap_or("0");
                        let runtime_s: f64 = runtime_text.parse().map_err(|_| {
                            SchedError::WorkflowDax(format!("job {id} has runtime {runtime_text}"))
                        })?;
                        jobs.push(Job {
                            id,
                            runtime_s,
                            inputs: Vec::new(),
                            outputs: HashMap::new(),
                            input_sizes: HashMap::new(),
                        });
                    }
                    b"uses" => {
                        let Some(job) = jobs.last_mut() else {
                            return Err(SchedError::WorkflowDax("<uses> outside a job".into()));
                        };
                        let file = required(&attrs, "file", "uses")?.to_string();
                        let size: u64 = attrs
                            .get("size")
                            .map(|size| size.parse::<f64>().map(|bytes| bytes.max(0.0) as u64))
                            .transpose()
                            .map_err(|_| {
                                SchedError::WorkflowDax(format!("file {file} has a bad size"))
                            })?
                            .unwrap_or(0);
                        match attrs.get("link").map(String::as_str) {
                            Some("output") => {
                                job.outputs.insert(file, size);
                            }
                            Some("input") => {
                                job.input_sizes.insert(file.clone(), size);
                                job.inputs.push(file);
                            }
                            _ => {}
                        }
                    }
                    b"child" => current_child = Some(required(&attrs, "ref", "child")?.to_string()),
                    b"parent" => {
                        let Some(child) = current_child.clone() else {
                            return Err(SchedError::WorkflowDax("<parent> outside a child".into()));
                        };
                        edges.push((required(&attrs, "ref", "parent")?.to_string(), child));
                    }
                    _ => {}
                }
            }
            Event::End(element) if element.local_name().as_ref() == b"child" => {
                current_child = None
            }
            Event::Eof => break,
            _ => {}
        }
    }
    build(name, jobs, edges)
}

fn build(
    name: String,
    jobs: Vec<Job>,
    edges: Vec<(String, String)>,
) -> Result<Workflow, SchedError> {
    let index: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(idx, job)| (job.id.as_str(), idx))
        .collect();
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); jobs.len()];
    for (parent, child) in &edges {
        let unknown = |missing: &str| SchedError::UnknownParent {
            task: child.clone(),
            parent: missing.to_string(),
        };
        let child_idx = *index.get(child.as_str()).ok_or_else(|| unknown(child))?;
        let parent_idx = *index.get(parent.as_str()).ok_or_else(|| unknown(parent))?;
        parents[child_idx].push(parent_idx);
    }
    let tasks = jobs
        .iter()
        .enumerate()
        .map(|(job_idx, job)| {
            let mut job_parents = std::mem::take(&mut parents[job_idx]);
            job_parents.sort_unstable();
            job_parents.dedup();
            let mut task = Task::new(job.id.clone(), job.runtime_s.max(0.0));
            task.parents = job_parents
                .into_iter()
                .map(|parent_idx| {
                    let parent = &jobs[parent_idx];
                    let bytes = job
                        .inputs
                        .iter()
                        .filter(|file| parent.outputs.contains_key(*file))
                        .map(|file| parent.outputs[file].max(job.input_sizes[file]))
                        .fold(0u64, u64::saturating_add);
                    Dep {
                        parent: parent_idx,
                        bytes,
                    }
                })
                .collect();
            task
        })
        .collect();
    Workflow::new(name, tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0"?>
<adag xmlns="http://pegasus.isi.edu/schema/DAX" name="tiny">
  <job id="A" name="x" runtime="10.5">
    <uses file="f" link="output" size="250"/>
    <uses file="g" link="output" size="9"/>
  </job>
  <job id="B" name="y" runtime="3">
    <uses file="f" link="input" size="250"/>
  </job>
  <child ref="B"><parent ref="A"/></child>
</adag>"#;

    #[test]
    fn parses_jobs_files_and_dependencies() {
        let workflow = parse_dax(SMALL).unwrap();
        assert_eq!(workflow.name, "tiny");
        let tasks = workflow.tasks();
        assert_eq!(tasks[0].id, "A");
        assert_eq!(tasks[0].runtime_s, 10.5);
        assert_eq!(
            tasks[1].parents,
            vec![Dep {
                parent: 0,
                bytes: 250
            }]
        );
    }

    #[test]
    fn rejects_broken_dax() {
        let bad = SMALL.replace(r#"<parent ref="A"/>"#, r#"<parent ref="Q"/>"#);
        assert!(
            parse_dax(&bad)
                .unwrap_err()
                .to_string()
                .contains("unknown task Q")
        );
        let bad = SMALL.replace(r#"runtime="3""#, r#"runtime="soon""#);
        assert!(
            parse_dax(&bad)
                .unwrap_err()
                .to_string()
                .contains("job B has runtime soon")
        );
    }
}
