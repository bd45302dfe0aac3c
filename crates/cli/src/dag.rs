//! `purser dag submit|status|list|cancel`: DAGs of tasks on the server's pools. A DAG file is the API's
//! JSON (`POST /v1/dags`); a WfFormat or DAX workflow is converted through purser-sched's
//! parsers (task ids, runtimes, cores and dependencies).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use purser_core::amount::group_digits;
use purser_sched::{Workflow, WorkflowFormat};
use purser_server::wire::dags::{DagListOut, DagOut};
use serde_json::{Value, json};

use crate::accounts::show;
use crate::{Remote, table};

#[derive(Subcommand)]
pub enum DagCommand {
    /// Submit a DAG: the API's JSON, or a WfFormat (JSON) or Pegasus DAX (XML) workflow.
    Submit {
        file: PathBuf,
        /// dag, wfformat or dax (default: .xml and .dax are dax; JSON with a `workflow` key
        /// is wfformat; other JSON is dag).
        #[arg(long)]
        format: Option<String>,
        /// The tenant (an account path); required for a workflow, overrides a DAG file's.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        priority: Option<i32>,
        /// An idempotency key: submitting again with it answers the first DAG.
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show a DAG: its state and each task's state, machine and attempts.
    Status {
        /// dag_N
        id: String,
        /// Tasks shown at most in the table (--json shows all).
        #[arg(long, default_value_t = 50)]
        tasks: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// List DAGs, oldest first: state, tenant and task counts.
    List {
        /// Only DAGs of this account and below.
        #[arg(long)]
        tenant: Option<String>,
        /// running, paused, completed, failed or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// The page after this DAG (the `next` a previous page printed).
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a DAG: every task not finished is CANCELLED; running workers learn it at their
    /// next heartbeat.
    Cancel {
        /// dag_N
        id: String,
        /// Kept with each task and in the audit log.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Dag,
    Workflow(WorkflowFormat),
}

pub fn run(command: DagCommand) -> anyhow::Result<ExitCode> {
    match command {
        DagCommand::Submit {
            file,
            format,
            tenant,
            priority,
            key,
            remote,
        } => {
            let text = crate::schedule::read(&file)?;
            let format = detect(&file, &text, format.as_deref())?;
            let body = submission(&text, format, tenant, priority, key)
                .with_context(|| format!("reading {}", file.display()))?;
            let rows = 50;
            show(&remote, "POST", "/v1/dags", Some(body), |dag: &DagOut| {
                status_table(dag, rows)
            })
        }
        DagCommand::Status { id, tasks, remote } => {
            let path = format!("/v1/dags/{id}");
            show(&remote, "GET", &path, None, |dag: &DagOut| {
                status_table(dag, tasks)
            })
        }
        DagCommand::List {
            tenant,
            state,
            after,
            limit,
            remote,
        } => {
            let mut query = vec![format!("limit={limit}")];
            let named = [("tenant", tenant), ("state", state), ("after", after)];
            for (key, value) in named {
                if let Some(value) = value {
                    query.push(format!("{key}={}", encode(&value)));
                }
            }
            let path = format!("/v1/dags?{}", query.join("&"));
            show(&remote, "GET", &path, None, list_table)
        }
        DagCommand::Cancel { id, reason, remote } => {
            let body = match reason {
                Some(reason) => json!({ "reason": reason }),
                None => json!({}),
            };
            let path = format!("/v1/dags/{id}:cancel");
            show(&remote, "POST", &path, Some(body), |dag: &DagOut| {
                status_table(dag, 50)
            })
        }
    }
}

/// `{"COMPLETED": 1, "FAILED": 1}` as `COMPLETED 1, FAILED 1`.
fn counts_line(counts: &BTreeMap<String, u32>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    parts.join(", ")
}

/// An optional text for a table cell; `-` when absent.
fn text(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

/// A query value with everything but unreserved characters and `/` percent-encoded.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `GET /v1/dags` for people: one line per DAG, then where the next page starts.
fn list_table(page: &DagListOut) -> String {
    let mut rows = vec![
        ["DAG", "NAME", "TENANT", "STATE", "TASKS", "SUBMITTED"]
            .map(String::from)
            .to_vec(),
    ];
    for dag in &page.dags {
        rows.push(vec![
            dag.id.clone(),
            text(dag.name.as_deref()),
            dag.tenant.clone(),
            dag.state.clone(),
            counts_line(&dag.counts),
            dag.submitted_at.clone(),
        ]);
    }
    let mut out = table::render(&rows);
    if let Some(next) = &page.next_after {
        out.push_str(&format!("more: --after {next}\n"));
    }
    out
}

fn detect(path: &Path, text: &str, named: Option<&str>) -> anyhow::Result<Format> {
    match named {
        Some("dag") => return Ok(Format::Dag),
        Some(other) => {
            let format: WorkflowFormat = other
                .parse()
                .map_err(|_| anyhow::anyhow!("--format {other:?}: dag, wfformat or dax"))?;
            return Ok(Format::Workflow(format));
        }
        None => {}
    }
    if matches!(
        path.extension().and_then(|ext| ext.to_str()),
        Some("xml" | "dax")
    ) {
        return Ok(Format::Workflow(WorkflowFormat::Dax));
    }
    let value: Value =
        serde_json::from_str(text).context("the file is not JSON (or pass --format)")?;
    Ok(if value.get("workflow").is_some() {
        Format::Workflow(WorkflowFormat::WfFormat)
    } else {
        Format::Dag
    })
}

/// The body of `POST /v1/dags`.
fn submission(
    text: &str,
    format: Format,
    tenant: Option<String>,
    priority: Option<i32>,
    key: Option<String>,
) -> anyhow::Result<Value> {
    let mut body = match format {
        Format::Dag => {
            let body: Value = serde_json::from_str(text).context("parsing the dag")?;
            if !body.is_object() {
                bail!("a dag file is a JSON object with `tenant` and `tasks`");
            }
            body
        }
        Format::Workflow(format) => {
            let workflow = purser_sched::parse_workflow(text, format)?;
            let Some(tenant) = &tenant else {
                bail!("a workflow names no tenant: pass --tenant");
            };
            workflow_dag(&workflow, tenant)
        }
    };
    if let Some(tenant) = tenant {
        body["tenant"] = json!(tenant);
    }
    if let Some(priority) = priority {
        body["priority"] = json!(priority);
    }
    if let Some(key) = key {
        body["idempotency_key"] = json!(key);
    }
    Ok(body)
}

/// A parsed workflow as a DAG: its ids, runtimes (ms), cores and dependencies.
fn workflow_dag(workflow: &Workflow, tenant: &str) -> Value {
    let tasks = workflow.tasks();
    let entries: Vec<Value> = tasks
        .iter()
        .map(|task| {
            let mut requests = json!({"cores": task.requests.cores});
            if task.requests.gpu > 0 {
                requests["gpu"] = json!(task.requests.gpu);
            }
            if task.requests.memory_bytes > 0 && task.requests.memory_bytes < u64::MAX {
                requests["memory_bytes"] = json!(task.requests.memory_bytes);
            }
            let depends_on: Vec<&str> = task
                .parents
                .iter()
                .map(|dep| tasks[dep.parent].id.as_str())
                .collect();
            json!({
                "id": task.id,
                "runtime_ms": (task.runtime_s * 1e3).round() as u64,
                "requests": requests,
                "depends_on": depends_on,
                "checkpointing": task.checkpoint_interval_s.is_some(),
            })
        })
        .collect();
    json!({"name": workflow.name, "tenant": tenant, "tasks": entries})
}

/// A DAG for people: one line about it, then a task per row (at most `max_rows`).
pub fn status_table(dag: &DagOut, max_rows: usize) -> String {
    let mut out = format!(
        "{}{}  tenant {}  {}  submitted {}\n",
        dag.id,
        dag.name
            .as_deref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default(),
        dag.tenant,
        dag.state,
        dag.submitted_at,
    );
    if dag.duplicate {
        out.push_str("(already submitted with this key)\n");
    }
    out.push_str(&format!("tasks: {}\n", counts_line(&dag.counts)));
    if let (Some(account), Some(cost)) = (&dag.account, &dag.cost) {
        out.push_str(&format!(
            "charged to {account}: spent {}, reserved {}, projected to finish {} (cost_micros)\n",
            group_digits(cost.spent_micros),
            group_digits(cost.reserved_micros),
            group_digits(cost.projected_micros),
        ));
    }
    if let Some(paused) = &dag.paused {
        out.push_str(&format!(
            "paused: the next task needs {} {} on {}, {} left\n",
            group_digits(paused.needed),
            paused.dimension,
            paused.account,
            group_digits(paused.available),
        ));
    }
    let charged = dag.cost.is_some();
    let mut header = vec!["TASK", "NAME", "STATE", "MACHINE", "ATTEMPTS", "UPDATED"];
    if charged {
        header.push("COST");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for task in dag.tasks.iter().take(max_rows) {
        let state = match &task.error {
            Some(error) => format!("{} ({error})", task.state),
            None => task.state.clone(),
        };
        rows.push(vec![
            task.id.clone(),
            task.name.clone(),
            state,
            text(task.machine.as_deref()),
            format!("{}/{}", task.attempts, task.max_attempts),
            task.updated_at.clone(),
        ]);
        if charged {
            let row = rows.last_mut().expect("just pushed");
            row.push(group_digits(task.cost_micros.unwrap_or(0)));
        }
    }
    out.push_str(&table::render(&rows));
    if dag.tasks.len() > max_rows {
        out.push_str(&format!(
            "... {} more tasks (--tasks N, or --json for all)\n",
            dag.tasks.len() - max_rows
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WFFORMAT: &str = r#"{"name": "tiny", "workflow": {
        "specification": {"tasks": [
            {"id": "a", "parents": [], "children": ["b"]},
            {"id": "b", "parents": ["a"], "children": []}]},
        "execution": {"tasks": [{"id": "a", "runtimeInSeconds": 2.5, "coreCount": 4},
                                {"id": "b", "runtimeInSeconds": 1}]}}}"#;

    #[test]
    fn a_workflow_becomes_a_dag_with_runtimes_and_dependencies() {
        let format = detect(Path::new("w.json"), WFFORMAT, None).unwrap();
        assert_eq!(format, Format::Workflow(WorkflowFormat::WfFormat));
        let body = submission(WFFORMAT, format, Some("acme".into()), Some(2), None).unwrap();
        assert_eq!(
            body,
            json!({"name": "tiny", "tenant": "acme", "priority": 2, "tasks": [
                {"id": "a", "runtime_ms": 2500, "requests": {"cores": 4}, "depends_on": [],
                 "checkpointing": false},
                {"id": "b", "runtime_ms": 1000, "requests": {"cores": 1}, "depends_on": ["a"],
                 "checkpointing": false}]})
        );
        let err = submission(WFFORMAT, format, None, None, None).unwrap_err();
        assert!(err.to_string().contains("--tenant"), "{err}");
    }

    #[test]
    fn a_dag_file_goes_as_is_with_overrides() {
        let text = r#"{"tenant": "acme", "tasks": [{"id": "a"}]}"#;
        let format = detect(Path::new("d.json"), text, None).unwrap();
        assert_eq!(format, Format::Dag);
        let body = submission(text, format, None, None, Some("k-1".into())).unwrap();
        assert_eq!(
            body,
            json!({"tenant": "acme", "tasks": [{"id": "a"}], "idempotency_key": "k-1"})
        );
        assert_eq!(
            detect(Path::new("w.dax"), "<adag/>", None).unwrap(),
            Format::Workflow(WorkflowFormat::Dax)
        );
        assert!(detect(Path::new("x"), "{}", Some("yaml")).is_err());
    }

    #[test]
    fn list_table_for_people() {
        let page = json!({"dags": [
            {"id": "dag_1", "name": "build", "tenant": "acme", "state": "cancelled", "priority": 0,
             "submitted_at": "2026-11-21T10:30:15.123Z", "n_tasks": 2,
             "counts": {"CANCELLED": 1, "COMPLETED": 1}}],
            "next_after": "dag_1"});
        let page: DagListOut = serde_json::from_value(page).unwrap();
        assert_eq!(
            list_table(&page),
            "DAG    NAME   TENANT  STATE      TASKS                     SUBMITTED\n\
             dag_1  build  acme    cancelled  CANCELLED 1, COMPLETED 1  2026-11-21T10:30:15.123Z\n\
             more: --after dag_1\n"
        );
    }

    #[test]
    fn status_table_for_people() {
        let task =
            |id: &str, name: &str, state: &str, attempts: u32, error: Option<&str>, at: &str| {
                json!({"id": id, "name": name, "state": state, "machine": "local#0",
                   "attempts": attempts, "max_attempts": 3, "error": error, "updated_at": at,
                   "depends_on": [], "runtime_ms": 1000, "priority": 0, "checkpointing": false,
                   "checkpoint": null, "lease_expires_at": null,
                   "requests": {"cores": 1, "memory_bytes": 0, "gpu": 0}})
            };
        let dag = json!({"id": "dag_1", "name": "build", "tenant": "acme", "state": "running",
            "priority": 0, "submitted_at": "2026-11-21T10:30:15.123Z",
            "counts": {"COMPLETED": 1, "FAILED": 1},
            "tasks": [
                task("tsk_1_0", "fetch", "COMPLETED", 1, None, "2026-11-21T10:30:16.000Z"),
                task("tsk_1_1", "compile", "FAILED", 3, Some("oom"), "2026-11-21T10:31:00.000Z")]});
        let dag: DagOut = serde_json::from_value(dag).unwrap();
        assert_eq!(
            status_table(&dag, 1),
            "dag_1 (build)  tenant acme  running  submitted 2026-11-21T10:30:15.123Z\n\
             tasks: COMPLETED 1, FAILED 1\n\
             TASK     NAME   STATE      MACHINE  ATTEMPTS  UPDATED\n\
             tsk_1_0  fetch  COMPLETED  local#0       1/3  2026-11-21T10:30:16.000Z\n\
             ... 1 more tasks (--tasks N, or --json for all)\n"
        );
        // A charged DAG says what it costs, and why it waits when its budget holds it back.
        let mut charged = serde_json::to_value(&dag).unwrap();
        charged["state"] = json!("paused");
        charged["account"] = json!("acme/wf");
        charged["cost"] = json!({"spent_micros": 1_250_000, "reserved_micros": 500, "projected_micros": 2_000_000});
        charged["paused"] = json!({"account": "acme/wf", "dimension": "cost_micros", "needed": 500, "available": 399});
        charged["tasks"][0]["cost_micros"] = json!(1_250_000);
        let charged: DagOut = serde_json::from_value(charged).unwrap();
        let table = status_table(&charged, 1);
        assert!(
            table.contains(
                "charged to acme/wf: spent 1,250,000, reserved 500, projected to finish 2,000,000 (cost_micros)\n\
                 paused: the next task needs 500 cost_micros on acme/wf, 399 left\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("UPDATED                   COST\n"),
            "{table}"
        );
        assert!(table.contains("1,250,000\n"), "{table}");
    }
}
