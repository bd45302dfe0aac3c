//! DAGs over HTTP, the calls that take tasks back or look across DAGs: cancel, listing, a
//! worker's interrupted machine, priority preemption of borrowed quota, spot pools.

mod common;

use common::dags::{dag, lease, start_scheduler, state_of, submit_ok, task_op};
use common::{assert_error, assert_rfc3339};
use serde_json::json;

const TWO_POOLS: &str = "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 2\n\n\
[[pool]]\nname = \"spot\"\nmachines = 2\ncores = 2\non_demand_per_hour_micros = 340000\n\
spot_per_hour_micros = 120000\ninterruptions_per_hour = 0.05\n";

#[test]
fn cancel_closes_open_tasks_and_the_worker_is_told_why() {
    let (server, _dir) = start_scheduler(TWO_POOLS);
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "a", "runtime_ms": 60000}, {"id": "b", "depends_on": ["a"]}]}),
    );
    let id = submitted["id"].as_str().unwrap();
    let a = lease(&server, "local-0");
    assert_eq!(a["name"], "a");
    let (status, cancelled) = server.post(
        &format!("/v1/dags/{id}:cancel"),
        json!({"reason": "superseded by build 42"}),
    );
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["counts"], json!({"CANCELLED": 2}));
    assert_eq!(
        cancelled["tasks"][0]["error"],
        "cancelled: superseded by build 42"
    );
    let beat = task_op(&server, &a, "heartbeat", json!({"attempt": 1}));
    let error = assert_error(&beat, 409, "task_not_running", None);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("CANCELLED, not RUNNING (cancelled: superseded by build 42)"),
        "{error}"
    );
    // Again: nothing left to cancel, same answer. Unknown and malformed ids are refused.
    let (status, again) = server.post(&format!("/v1/dags/{id}:cancel"), json!({}));
    assert_eq!((status, again["state"].as_str()), (200, Some("cancelled")));
    assert_error(
        &server.post("/v1/dags/dag_99:cancel", json!({})),
        404,
        "dag_not_found",
        None,
    );
    assert_error(
        &server.post(&format!("/v1/dags/{id}:stop"), json!({})),
        404,
        "not_found",
        None,
    );
    assert_error(
        &server.post(&format!("/v1/dags/{id}:cancel"), json!({"why": "x"})),
        400,
        "unknown_field",
        Some("why"),
    );
    // The cancelled task freed its core: the next DAG runs.
    submit_ok(&server, json!({"tenant": "acme", "tasks": [{"id": "c"}]}));
    assert_eq!(lease(&server, "local-0")["name"], "c");
}

#[test]
fn dags_are_listed_in_pages_filtered_by_tenant_and_state() {
    let (server, _dir) = start_scheduler(TWO_POOLS);
    for (tenant, name) in [
        ("acme/research", "r1"),
        ("acme/research", "r2"),
        ("acme/ops", "o1"),
        ("globex", "g1"),
    ] {
        submit_ok(
            &server,
            json!({"name": name, "tenant": tenant, "tasks": [{"id": "t"}]}),
        );
    }
    let (status, all) = server.get("/v1/dags");
    assert_eq!(status, 200, "{all}");
    let names: Vec<&str> = all["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dag| dag["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["r1", "r2", "o1", "g1"]);
    assert_eq!(all["next_after"], json!(null));
    let first = &all["dags"][0];
    assert_eq!(
        (
            first["n_tasks"].clone(),
            first["state"].clone(),
            first["counts"].clone()
        ),
        (json!(1), json!("running"), json!({"ELIGIBLE": 1}))
    );
    assert_rfc3339(&first["submitted_at"]);

    let (_, acme) = server.get("/v1/dags?tenant=acme&limit=2");
    let page: Vec<&str> = acme["dags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dag| dag["name"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["r1", "r2"]);
    let after = acme["next_after"].as_str().unwrap();
    let (_, rest) = server.get(&format!("/v1/dags?tenant=acme&limit=2&after={after}"));
    assert_eq!(rest["dags"][0]["name"], "o1");
    assert_eq!(rest["dags"].as_array().unwrap().len(), 1, "{rest}");

    let id = all["dags"][3]["id"].as_str().unwrap();
    server.post(&format!("/v1/dags/{id}:cancel"), json!({}));
    let (_, cancelled) = server.get("/v1/dags?state=cancelled");
    assert_eq!(cancelled["dags"].as_array().unwrap().len(), 1);
    assert_eq!(cancelled["dags"][0]["name"], "g1");
    assert_error(
        &server.get("/v1/dags?state=done"),
        400,
        "invalid_field",
        Some("state"),
    );
    assert_error(
        &server.get("/v1/dags?sort=name"),
        400,
        "unknown_field",
        Some("sort"),
    );
}

#[test]
fn an_interrupted_spot_machine_returns_its_tasks_to_resume_elsewhere() {
    let (server, _dir) = start_scheduler(TWO_POOLS);
    // A long critical task and a short side task: only the side task has the slack for spot.
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "critical", "runtime_ms": 600000},
            {"id": "after", "runtime_ms": 600000, "depends_on": ["critical"]},
            {"id": "side", "runtime_ms": 1000, "checkpointing": true}]}),
    );
    let id = submitted["id"].as_str().unwrap();
    let side = lease(&server, "spot-0");
    assert_eq!(side["name"], "side", "the critical task stays off spot");
    assert!(lease(&server, "spot-0").is_null());
    assert_eq!(state_of(&dag(&server, id), "critical"), "ELIGIBLE");
    let (status, _) = task_op(
        &server,
        &side,
        "checkpoint",
        json!({"attempt": 1, "checkpoint": "half"}),
    );
    assert_eq!(status, 200);

    let (status, answer) = server.post(
        "/v1/workers/spot-0:interrupted",
        json!({"reason": "two-minute notice"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"machine": "spot#0", "returned": 1}));
    let after = dag(&server, id);
    assert_eq!(state_of(&after, "side"), "ELIGIBLE");
    let side_out = &after["tasks"][2];
    assert!(
        side_out["error"]
            .as_str()
            .unwrap()
            .contains("spot#0 interrupted: two-minute notice"),
        "{side_out}"
    );
    let resumed = lease(&server, "spot-1");
    assert_eq!(
        (resumed["name"].as_str(), resumed["checkpoint"].as_str()),
        (Some("side"), Some("half"))
    );
    assert_eq!(lease(&server, "local-0")["name"], "critical");
    assert_error(
        &server.post("/v1/workers/nowhere-0:interrupted", json!({})),
        404,
        "worker_not_found",
        None,
    );
}

#[test]
fn urgent_work_preempts_a_tenant_that_borrows() {
    let (server, _dir) = start_scheduler(
        "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 4\n\n\
         [[quota]]\ntenant = \"batch\"\npool = \"local\"\ndimension = \"cores\"\nnominal = 2\nborrowing_limit = 2\n\n\
         [[quota]]\ntenant = \"urgent\"\npool = \"local\"\ndimension = \"cores\"\nnominal = 2\nborrowing_limit = 2\n",
    );
    let tasks: Vec<_> = (0..4).map(|idx| json!({"id": format!("b{idx}")})).collect();
    let batch = submit_ok(&server, json!({"tenant": "batch", "tasks": tasks}));
    let leased: Vec<_> = (0..4).map(|_| lease(&server, "local-0")).collect();
    assert!(leased.iter().all(|task| !task.is_null()));
    let urgent = submit_ok(
        &server,
        json!({"tenant": "urgent", "priority": 10, "tasks": [{"id": "u0"}, {"id": "u1"}]}),
    );
    let first = lease(&server, "local-0");
    assert_eq!(first["name"], "u0", "{first}");
    assert_eq!(lease(&server, "local-0")["name"], "u1");
    let batch_now = dag(&server, batch["id"].as_str().unwrap());
    assert_eq!(batch_now["counts"], json!({"ELIGIBLE": 2, "RUNNING": 2}));
    // A preempted worker learns it at its next heartbeat.
    let stopped = leased
        .iter()
        .find(|task| {
            let state = state_of(&batch_now, task["name"].as_str().unwrap());
            state == "ELIGIBLE"
        })
        .unwrap();
    let beat = task_op(&server, stopped, "heartbeat", json!({"attempt": 1}));
    let error = assert_error(&beat, 409, "task_not_running", None);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("preempted by tsk_")
            && error["message"]
                .as_str()
                .unwrap()
                .contains("tenant batch borrows"),
        "{error}"
    );
    let _ = urgent;
}

#[test]
fn a_worker_leases_several_small_tasks_in_one_call() {
    let (server, _dir) = start_scheduler("[[pool]]\nname = \"local\"\nmachines = 1\ncores = 4\n");
    let tasks: Vec<_> = (0..6)
        .map(|idx| json!({"id": format!("t{idx}"), "runtime_ms": 500}))
        .collect();
    submit_ok(&server, json!({"tenant": "acme", "tasks": tasks}));
    let (status, batch) = server.post("/v1/workers/local-0:lease", json!({"max_tasks": 8}));
    assert_eq!(status, 200, "{batch}");
    let leased = batch["tasks"].as_array().unwrap();
    assert_eq!(leased.len(), 4, "four cores, four one-core tasks: {batch}");
    assert_eq!(batch["task"], leased[0]);
    let mut names: Vec<&str> = leased.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["t0", "t1", "t2", "t3"]);
    // Without max_tasks the answer keeps its one-task shape.
    let (_, single) = server.post("/v1/workers/local-0:lease", json!({}));
    assert_eq!(single, json!({"task": null}));
    assert_error(
        &server.post("/v1/workers/local-0:lease", json!({"max_tasks": 0})),
        400,
        "invalid_field",
        Some("max_tasks"),
    );
}
