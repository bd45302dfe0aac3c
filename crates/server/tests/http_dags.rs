//! DAGs over HTTP: submit, the workers' pull loop (lease, heartbeat, checkpoint, complete,
//! fail), lease expiry, the audit of task changes, and a restart.

mod common;

use std::time::Instant;

use common::dags::{
    ONE_MACHINE, config, dag, lease, start_scheduler, start_scheduler_manual, state_of, submit_ok,
    task_op,
};
use common::{POLL_DEADLINE, assert_error, assert_rfc3339, start_with};
use serde_json::json;

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
    let (server, clock, _dir) =
        start_scheduler_manual(&format!("[scheduler]\nlease_ttl_ms = 1000\n{ONE_MACHINE}"));
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

    // Nobody renews the lease: once the clock passes it, the next tick takes it back.
    assert_eq!(state_of(&dag(&server, id), "train"), "RUNNING");
    clock.advance(1_001);
    let deadline = Instant::now() + POLL_DEADLINE;
    while state_of(&dag(&server, id), "train") != "ELIGIBLE" {
        assert!(
            Instant::now() < deadline,
            "the lease never expired: {}",
            dag(&server, id)
        );
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
fn task_changes_are_audited_under_the_tenant() {
    // The event stream carries the same entries: audit.rs pushes each to both.
    let (server, _dir) = start_scheduler(ONE_MACHINE);
    submit_ok(
        &server,
        json!({"tenant": "acme/research", "tasks": [{"id": "a"}]}),
    );
    submit_ok(&server, json!({"tenant": "beta", "tasks": [{"id": "b"}]}));
    let task = lease(&server, "local-0");
    assert_eq!(task_op(&server, &task, "complete", json!({})).0, 200);
    let (status, audit) = server.get("/v1/audit?prefix=acme");
    assert_eq!(status, 200, "{audit}");
    let changes: Vec<(String, String, String)> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|entry| entry["type"] == "task")
        .map(|entry| {
            assert_eq!(entry["account"], "acme/research", "{entry}");
            assert!(entry["seq"].is_u64(), "{entry}");
            let data = &entry["data"];
            assert_eq!(
                (data["task"].as_str(), data["name"].as_str()),
                (Some("tsk_1_0"), Some("a"))
            );
            assert_rfc3339(&data["at"]);
            let text = |key: &str| data[key].as_str().unwrap_or("-").to_string();
            (text("from"), text("to"), text("machine"))
        })
        .collect();
    let expected = [
        ("ELIGIBLE", "SCHEDULED", "local#0"),
        ("SCHEDULED", "RUNNING", "local#0"),
        ("RUNNING", "COMPLETED", "local#0"),
    ];
    assert_eq!(
        changes,
        expected.map(|(from, to, machine)| (from.into(), to.into(), machine.into()))
    );
}
