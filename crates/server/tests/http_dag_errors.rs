//! DAGs over HTTP, what is refused: errors naming tenant, pool and dimension, bad input,
//! unknown ids, tokens and scopes; and the routes in /openapi.json.

mod common;

use common::dags::{ONE_MACHINE, WORKER_TOKEN, config, lease, start_scheduler, submit_ok, task_op};
use common::{ADMIN_TOKEN, AGENT_TOKEN, OPERATOR_TOKEN, assert_error, start, start_with};
use purser_server::config::TokenConfig;
use serde_json::{Value, json};

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

    // Regression (hardening #6): another tenant's DAG answered 403 naming the tenant, which
    // confirmed the id exists; it is answered as an unknown one.
    let team_path = format!("/v1/dags/{}", team["id"].as_str().unwrap());
    let hidden = as_token(Some(AGENT_TOKEN), "GET", &team_path, None);
    assert_error(&hidden, 404, "dag_not_found", None);
    assert!(!hidden.1.to_string().contains("acme/"), "{}", hidden.1);
    let cancel_path = format!("{team_path}:cancel");
    assert_error(
        &as_token(Some(AGENT_TOKEN), "POST", &cancel_path, None),
        404,
        "dag_not_found",
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
