//! Helpers of the DAG tests: a server with pools, and the workers' calls.

use std::path::Path;

use purser_server::Config;
use purser_server::config::DurabilityConfig;
use serde_json::Value;

use super::{TestServer, start_with};

pub const WORKER_TOKEN: &str = "worker-token-0123456789";

/// A server config with the given scheduler sections (TOML) on `data_dir`.
pub fn config(data_dir: &Path, toml: &str) -> Config {
    let mut config = Config::parse(toml).expect("the test's config parses");
    config.data_dir = data_dir.to_path_buf();
    config.durability = DurabilityConfig::Os;
    config
}

pub const ONE_MACHINE: &str = "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 2\n";

pub fn start_scheduler(toml: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_with(config(dir.path(), toml));
    (server, dir)
}

/// A scheduler on a manual clock.
pub fn start_scheduler_manual(
    toml: &str,
) -> (TestServer, purser_engine::ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server, clock) = super::start_manual(config(dir.path(), toml));
    (server, clock, dir)
}

pub fn submit_ok(server: &TestServer, body: Value) -> Value {
    let (status, dag) = server.post("/v1/dags", body);
    assert_eq!(status, 200, "submit: {dag}");
    dag
}

/// Leases on `worker`; answers the task, or Null.
pub fn lease(server: &TestServer, worker: &str) -> Value {
    let (status, answer) = server.call("POST", &format!("/v1/workers/{worker}:lease"), None);
    assert_eq!(status, 200, "lease on {worker}: {answer}");
    answer["task"].clone()
}

pub fn task_op(server: &TestServer, task: &Value, method: &str, body: Value) -> (u16, Value) {
    let id = task["id"].as_str().expect("a task id");
    server.post(&format!("/v1/tasks/{id}:{method}"), body)
}

pub fn dag(server: &TestServer, id: &str) -> Value {
    let (status, dag) = server.get(&format!("/v1/dags/{id}"));
    assert_eq!(status, 200, "GET {id}: {dag}");
    dag
}

pub fn states(dag: &Value) -> Vec<(String, String)> {
    dag["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|task| {
            (
                task["name"].as_str().unwrap().to_string(),
                task["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn state_of(dag: &Value, name: &str) -> String {
    states(dag)
        .into_iter()
        .find(|(task, _)| task == name)
        .unwrap_or_else(|| panic!("no task {name} in {dag}"))
        .1
}
