//! DAGs over HTTP: submit, the workers' pull loop (lease, heartbeat, checkpoint, complete,
//! fail), lease expiry, errors naming tenant, pool and dimension, tokens, and a restart.

mod common;

use std::path::Path;
use std::time::Instant;

use common::{
    ADMIN_TOKEN, AGENT_TOKEN, OPERATOR_TOKEN, POLL_DEADLINE, TestServer, assert_error,
    assert_rfc3339, start, start_with,
};
use purser_server::Config;
use purser_server::config::{DurabilityConfig, TokenConfig};
use serde_json::{Value, json};

const WORKER_TOKEN: &str = "worker-token-0123456789";

/// A server config with the given scheduler sections (TOML) on `data_dir`.
fn config(data_dir: &Path, toml: &str) -> Config {
    let mut config = Config::parse(toml).expect("the test's config parses");
    config.data_dir = data_dir.to_path_buf();
    config.durability = DurabilityConfig::Os;
    config
}

const ONE_MACHINE: &str = "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 2\n";

fn start_scheduler(toml: &str) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_with(config(dir.path(), toml));
    (server, dir)
}

fn submit_ok(server: &TestServer, body: Value) -> Value {
    let (status, dag) = server.post("/v1/dags", body);
    assert_eq!(status, 200, "submit: {dag}");
    dag
}

/// Leases on `worker`; answers the task, or Null.
fn lease(server: &TestServer, worker: &str) -> Value {
    let (status, answer) = server.call("POST", &format!("/v1/workers/{worker}:lease"), None);
    assert_eq!(status, 200, "lease on {worker}: {answer}");
    answer["task"].clone()
}

fn task_op(server: &TestServer, task: &Value, method: &str, body: Value) -> (u16, Value) {
    let id = task["id"].as_str().expect("a task id");
    server.post(&format!("/v1/tasks/{id}:{method}"), body)
}

fn dag(server: &TestServer, id: &str) -> Value {
    let (status, dag) = server.get(&format!("/v1/dags/{id}"));
    assert_eq!(status, 200, "GET {id}: {dag}");
    dag
}

fn states(dag: &Value) -> Vec<(String, String)> {
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

fn state_of(dag: &Value, name: &str) -> String {
    states(dag)
        .into_iter()
        .find(|(task, _)| task == name)
        .unwrap_or_else(|| panic!("no task {name} in {dag}"))
        .1
}

#[test]
fn submit_lease_complete_and_children_become_leasable() {
    let (server, _dir) = start_scheduler(ONE_MACHINE);
    let submitted = submit_ok(
        &server,
        json!({"name": "build", "tenant": "acme", "tasks": [
            {"id": "fetch", "runtime_ms": 1000},
            {"id": "compile", "runtime_ms": 5000, "depends_on": ["fetch"]},
            {"id": "lint", "depends_on": ["fetch"], "requests": {"cores": 1}},
            {"id": "package", "depends_on": ["compile", "lint"], "checkpointing": true}]}),
    );
    let id = submitted["id"].as_str().unwrap().to_string();
    assert_eq!(submitted["state"], "running");
    assert_eq!(submitted["tenant"], "acme");
    assert_rfc3339(&submitted["submitted_at"]);
    assert_eq!(submitted["counts"], json!({"ELIGIBLE": 1, "QUEUED": 3}));
    assert_eq!(
        submitted["tasks"][3]["depends_on"],
        json!(["compile", "lint"])
    );
    assert_eq!(submitted["tasks"][2]["requests"]["cores"], 1);

    let fetch = lease(&server, "local-0");
    assert_eq!(fetch["name"], "fetch");
    assert_eq!(fetch["dag"], id.as_str());
    assert_eq!(
        (fetch["attempt"].clone(), fetch["machine"].clone()),
        (json!(1), json!("local#0"))
    );
    assert_eq!(fetch["lease_ttl_ms"], 30_000);
    assert_rfc3339(&fetch["lease_expires_at"]);
    assert!(
        lease(&server, "local-0").is_null(),
        "nothing else is eligible"
    );

    let (status, beat) = task_op(&server, &fetch, "heartbeat", json!({"attempt": 1}));
    assert_eq!(
        (status, beat["state"].as_str()),
        (200, Some("RUNNING")),
        "{beat}"
    );
    let (status, done) = task_op(&server, &fetch, "complete", json!({}));
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("COMPLETED")),
        "{done}"
    );

    let after = dag(&server, &id);
    assert_eq!(state_of(&after, "fetch"), "COMPLETED");
    assert_ne!(state_of(&after, "compile"), "QUEUED");
    // compile heads the longer path: it goes first.
    let compile = lease(&server, "local-0");
    let lint = lease(&server, "local-0");
    assert_eq!(
        (compile["name"].as_str(), lint["name"].as_str()),
        (Some("compile"), Some("lint"))
    );
    assert!(lease(&server, "local-0").is_null(), "both cores are taken");
    for task in [&compile, &lint] {
        assert_eq!(
            task_op(&server, task, "complete", json!({"attempt": 1})).0,
            200
        );
    }
    // The machine name works too, its `#` escaped in the URL.
    let package = lease(&server, "local%230");
    assert_eq!(package["name"], "package");
    assert_eq!(task_op(&server, &package, "complete", json!({})).0, 200);
    let finished = dag(&server, &id);
    assert_eq!(finished["state"], "completed");
    assert_eq!(finished["counts"], json!({"COMPLETED": 4}));
    assert_eq!(finished["tasks"][0]["machine"], "local#0");
    assert_eq!(finished["tasks"][0]["attempts"], 1);
}

#[test]
fn an_expired_lease_returns_the_task_to_eligible_with_its_checkpoint() {
    let (server, _dir) =
        start_scheduler(&format!("[scheduler]\nlease_ttl_ms = 300\n{ONE_MACHINE}"));
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [{"id": "train", "checkpointing": true}]}),
    );
    let id = submitted["id"].as_str().unwrap();
    let first = lease(&server, "local-0");
    let (status, saved) = task_op(
        &server,
        &first,
        "checkpoint",
        json!({"checkpoint": "epoch-3", "attempt": 1}),
    );
    assert_eq!(status, 200, "{saved}");

    // Nobody renews the lease: the clock's tick takes it back within the deadline.
    let deadline = Instant::now() + POLL_DEADLINE;
    while state_of(&dag(&server, id), "train") != "ELIGIBLE" {
        assert!(
            Instant::now() < deadline,
            "the lease never expired: {}",
            dag(&server, id)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, body) = task_op(&server, &first, "heartbeat", json!({"attempt": 1}));
    let error = assert_error(&(status, body), 409, "task_not_running", None);
    assert!(
        error["message"].as_str().unwrap().contains("ELIGIBLE"),
        "{error}"
    );

    let second = lease(&server, "local-0");
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["checkpoint"], "epoch-3", "the next attempt resumes");
    let stale = task_op(&server, &first, "complete", json!({"attempt": 1}));
    assert_error(&stale, 409, "stale_attempt", None);
    assert_eq!(
        task_op(&server, &second, "complete", json!({"attempt": 2})).0,
        200
    );
    let finished = dag(&server, id);
    assert_eq!(finished["tasks"][0]["attempts"], 2);
    assert_eq!(finished["state"], "completed");
}

#[test]
fn a_failed_task_is_retried_then_fails_for_good_and_cancels_its_descendants() {
    let (server, _dir) = start_scheduler(ONE_MACHINE);
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "a", "max_attempts": 2}, {"id": "b", "depends_on": ["a"]}]}),
    );
    let id = submitted["id"].as_str().unwrap();
    let first = lease(&server, "local-0");
    let (status, answer) = task_op(
        &server,
        &first,
        "fail",
        json!({"error": "oom", "retryable": true}),
    );
    assert_eq!(
        (status, answer["state"].as_str()),
        (200, Some("ELIGIBLE")),
        "{answer}"
    );
    let second = lease(&server, "local-0");
    assert_eq!(second["attempt"], 2);
    let (status, answer) = task_op(&server, &second, "fail", json!({"error": "oom again"}));
    assert_eq!(
        (status, answer["state"].as_str()),
        (200, Some("FAILED")),
        "{answer}"
    );
    let failed = dag(&server, id);
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["tasks"][0]["error"], "oom again");
    assert_eq!(state_of(&failed, "b"), "CANCELLED");
}

#[test]
fn errors_name_the_tenant_pool_and_dimension() {
    let (server, _dir) = start_scheduler(&format!(
        "{}\n[[quota]]\ntenant = \"acme\"\npool = \"local\"\ndimension = \"cores\"\nnominal = 2\nborrowing_limit = 0\n\n[[limit_range]]\ntenant = \"acme\"\npool = \"local\"\nmin = {{ cores = 1 }}\nmax = {{ cores = 3 }}\n",
        "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 4\n"
    ));
    let one = |tenant: &str, cores: u64| json!({"tenant": tenant, "tasks": [{"id": "t", "requests": {"cores": cores}}]});
    let check = |body: Value, status: u16, code: &str, tenant: &str, dimension: &str| {
        let answer = server.post("/v1/dags", body);
        let error = assert_error(&answer, status, code, Some("tasks[0].requests.cores"));
        assert_eq!(error["tenant"], tenant, "{error}");
        assert_eq!(error["pool"], "local", "{error}");
        assert_eq!(error["dimension"], dimension, "{error}");
        error
    };
    let range = check(one("acme", 6), 400, "limit_range", "acme", "cores");
    assert!(
        range["message"].as_str().unwrap().contains("[1, 3]"),
        "{range}"
    );
    let quota = check(one("acme", 3), 409, "quota_exceeded", "acme", "cores");
    assert_eq!(quota["requested"], 3);
    let too_big = check(one("beta", 8), 400, "no_pool_fits", "beta", "cores");
    assert_eq!(
        (too_big["requested"].clone(), too_big["available"].clone()),
        (json!(8), json!(4))
    );

    let bad = |body: Value, code: &str, field: &str| {
        assert_error(&server.post("/v1/dags", body), 400, code, Some(field));
    };
    bad(
        json!({"tenant": "acme", "tasks": [{"id": "a"}, {"id": "b", "depends_on": ["ghost"]}]}),
        "invalid_field",
        "tasks[1].depends_on[0]",
    );
    bad(
        json!({"tenant": "acme", "tasks": [{"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]}]}),
        "invalid_field",
        "tasks[0].depends_on",
    );
    bad(
        json!({"tenant": "acme", "tasks": [{"id": "a", "cpus": 2}]}),
        "unknown_field",
        "tasks[0].cpus",
    );
    bad(
        json!({"tenant": "acme", "tasks": [{"id": "a", "requests": {"disk": 2}}]}),
        "unknown_field",
        "tasks[0].requests.disk",
    );
    bad(
        json!({"tenant": "Acme!", "tasks": [{"id": "a"}]}),
        "invalid_path",
        "tenant",
    );
    bad(json!({"tasks": [{"id": "a"}]}), "invalid_field", "tenant");

    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [{"id": "a"}, {"id": "b"}]}),
    );
    let a = &submitted["tasks"][0];
    assert_error(
        &task_op(&server, a, "complete", json!({})),
        409,
        "task_not_running",
        None,
    );
    let leased = lease(&server, "local-0");
    assert_error(
        &task_op(&server, &leased, "checkpoint", json!({"checkpoint": "x"})),
        409,
        "not_checkpointing",
        None,
    );
    assert_error(&server.get("/v1/dags/dag_99"), 404, "dag_not_found", None);
    assert_error(&server.get("/v1/dags/build"), 404, "dag_not_found", None);
    let no_worker = server.call("POST", "/v1/workers/gpu-0:lease", None);
    assert_error(&no_worker, 404, "worker_not_found", None);
    assert_error(
        &server.post("/v1/tasks/tsk_99_0:heartbeat", json!({})),
        404,
        "task_not_found",
        None,
    );
    assert_error(
        &server.post("/v1/tasks/tsk_1_0:explode", json!({})),
        404,
        "not_found",
        None,
    );
    assert_error(
        &server.post("/v1/tasks/tsk_1_0", json!({})),
        405,
        "method_not_allowed",
        None,
    );
}

#[test]
fn without_pools_a_submission_is_refused() {
    let (server, _dir) = start();
    let answer = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "tasks": [{"id": "a"}]}),
    );
    let error = assert_error(&answer, 409, "no_pools", None);
    assert!(
        error["message"].as_str().unwrap().contains("[[pool]]"),
        "{error}"
    );
}

#[test]
fn tokens_scope_dags_by_tenant_and_workers_need_no_scope() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), ONE_MACHINE);
    let token = |token: &str, role: &str, scope: &str| TokenConfig {
        token: token.into(),
        role: serde_json::from_value(json!(role)).unwrap(),
        scope: scope.into(),
        name: None,
    };
    config.tokens = vec![
        token(ADMIN_TOKEN, "admin", ""),
        token(OPERATOR_TOKEN, "operator", "acme/research"),
        token(AGENT_TOKEN, "agent", "acme/research/wf-1"),
        token(WORKER_TOKEN, "agent", ""),
    ];
    let server = start_with(config);
    let body = |tenant: &str| json!({"tenant": tenant, "tasks": [{"id": "a"}]});
    let as_token = |token: Option<&str>, method: &str, path: &str, body: Option<Value>| {
        server.call_as(token, method, path, body)
    };
    assert_error(
        &as_token(None, "POST", "/v1/dags", Some(body("acme"))),
        401,
        "unauthorized",
        None,
    );
    let (status, team) = as_token(
        Some(ADMIN_TOKEN),
        "POST",
        "/v1/dags",
        Some(body("acme/research")),
    );
    assert_eq!(status, 200, "{team}");
    let (status, own) = as_token(
        Some(AGENT_TOKEN),
        "POST",
        "/v1/dags",
        Some(body("acme/research/wf-1")),
    );
    assert_eq!(status, 200, "{own}");
    let outside = as_token(
        Some(AGENT_TOKEN),
        "POST",
        "/v1/dags",
        Some(body("acme/other")),
    );
    assert_error(&outside, 403, "forbidden", None);

    let team_path = format!("/v1/dags/{}", team["id"].as_str().unwrap());
    assert_error(
        &as_token(Some(AGENT_TOKEN), "GET", &team_path, None),
        403,
        "forbidden",
        None,
    );
    assert_eq!(
        as_token(Some(OPERATOR_TOKEN), "GET", &team_path, None).0,
        200
    );

    let lease_path = "/v1/workers/local-0:lease";
    assert_error(
        &as_token(Some(AGENT_TOKEN), "POST", lease_path, None),
        403,
        "forbidden",
        None,
    );
    assert_error(
        &as_token(None, "POST", lease_path, None),
        401,
        "unauthorized",
        None,
    );
    let (status, leased) = as_token(Some(WORKER_TOKEN), "POST", lease_path, None);
    assert_eq!(status, 200, "{leased}");
    let task_path = format!(
        "/v1/tasks/{}:complete",
        leased["task"]["id"].as_str().unwrap()
    );
    assert_error(
        &as_token(Some(OPERATOR_TOKEN), "POST", &task_path, None),
        403,
        "forbidden",
        None,
    );
    assert_eq!(
        as_token(Some(WORKER_TOKEN), "POST", &task_path, None).0,
        200
    );
}

#[test]
fn dag_state_survives_a_restart() {
    // Every record replayed from the journal, then from a snapshot taken every few events.
    check_restart(1_000_000);
    check_restart(5);
}

fn check_restart(snapshot_every_events: u64) {
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        let mut config = config(dir.path(), ONE_MACHINE);
        config.snapshot_every_events = snapshot_every_events;
        config.scheduler.lease_ttl_ms = 60_000;
        config
    };
    let server = start_with(make());
    server.put_ok("acme", json!({"limits": {"tokens": 1_000}}));
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "idempotency_key": "nightly-1", "tasks": [
            {"id": "a"}, {"id": "b", "depends_on": ["a"], "checkpointing": true},
            {"id": "c", "depends_on": ["b"]}]}),
    );
    let id = submitted["id"].as_str().unwrap().to_string();
    let a = lease(&server, "local-0");
    server.usage_ok("acme", json!({"tokens": 10}));
    assert_eq!(task_op(&server, &a, "complete", json!({})).0, 200);
    let b = lease(&server, "local-0");
    assert_eq!(b["name"], "b");
    let (status, _) = task_op(&server, &b, "checkpoint", json!({"checkpoint": "half"}));
    assert_eq!(status, 200);
    let before = dag(&server, &id);
    let usage_before = server.usage_ok("acme", json!({"tokens": 1}));
    server.stop().expect("a clean stop");

    let server = start_with(make());
    assert_eq!(dag(&server, &id), before, "the dag is as it was");
    let usage_after = server.usage_ok("acme", json!({"tokens": 1}));
    assert!(usage_after["seq"].as_u64() > usage_before["seq"].as_u64());
    // The same key answers the same dag.
    let again = submit_ok(
        &server,
        json!({"tenant": "acme", "idempotency_key": "nightly-1", "tasks": [{"id": "z"}]}),
    );
    assert_eq!(
        (again["id"].as_str(), again["duplicate"].clone()),
        (Some(id.as_str()), json!(true))
    );
    // The worker carries on: its lease and the checkpoint survived.
    let (status, beat) = task_op(&server, &b, "heartbeat", json!({"attempt": 1}));
    assert_eq!(status, 200, "{beat}");
    assert_eq!(
        task_op(&server, &b, "complete", json!({"attempt": 1})).0,
        200
    );
    let c = lease(&server, "local-0");
    assert_eq!(c["name"], "c");
    assert_eq!(task_op(&server, &c, "complete", json!({})).0, 200);
    assert_eq!(dag(&server, &id)["state"], "completed");
    assert_eq!(server.status("acme")["consumed"]["tokens"], 12);
}

#[test]
fn openapi_lists_the_dag_routes() {
    let (server, _dir) = start();
    let (status, doc) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/v1/dags", "post"),
        ("/v1/dags/{id}", "get"),
        ("/v1/workers/{id}:lease", "post"),
        ("/v1/tasks/{id}:heartbeat", "post"),
        ("/v1/tasks/{id}:checkpoint", "post"),
        ("/v1/tasks/{id}:complete", "post"),
        ("/v1/tasks/{id}:fail", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
}
