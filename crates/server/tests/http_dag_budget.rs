//! DAGs that spend budgets over HTTP: the account a DAG and its tasks are charged to, the
//! lease answer's account, machine time held at placement and settled at the end of each
//! attempt, a DAG paused while its budget refuses its next task and resumed when raised, and
//! submissions whose accounts are refused.

mod common;

use common::dags::{dag, lease, start_scheduler_manual, submit_ok, task_op};
use common::{TestServer, assert_error};
use serde_json::{Value, json};

/// One 4-core machine at 3,600,000 micro-units an hour: a 2-core task costs half a micro-unit
/// a millisecond.
const PRICED: &str =
    "[[pool]]\nname = \"cloud\"\nmachines = 1\ncores = 4\non_demand_per_hour_micros = 3600000\n";

fn figure(server: &TestServer, account: &str, what: &str, dimension: &str) -> u64 {
    server.status(account)[what][dimension]
        .as_u64()
        .unwrap_or(0)
}

/// `acme` with 10,000 cost_micros and `acme/wf` with 700 below it, both stopping at the limit.
fn tight_accounts(server: &TestServer) {
    for (path, limit) in [("acme", 10_000), ("acme/wf", 700)] {
        server.put_ok(
            path,
            json!({"limits": {"cost_micros": limit}, "thresholds": {"stop": 1.0}}),
        );
    }
}

fn two_tasks(server: &TestServer) -> Value {
    submit_ok(
        server,
        json!({"tenant": "acme", "account": "acme/wf", "tasks": [
            {"id": "a", "runtime_ms": 1000, "requests": {"cores": 2}, "account": "acme/wf/agent"},
            {"id": "b", "runtime_ms": 1000, "requests": {"cores": 2}, "depends_on": ["a"]}
        ]}),
    )
}

#[test]
fn machine_time_is_held_at_placement_and_settled_from_the_clock() {
    let (server, clock, _dir) = start_scheduler_manual(PRICED);
    server.put_ok("acme", json!({"limits": {"cost_micros": 1_000_000}}));
    server.put_ok("acme/wf", json!({}));
    server.put_ok("acme/wf/agent", json!({}));
    let submitted = two_tasks(&server);
    let id = submitted["id"].as_str().unwrap();
    assert_eq!(submitted["account"], "acme/wf");
    assert_eq!(submitted["tasks"][0]["account"], "acme/wf/agent");
    assert_eq!(submitted["tasks"][1]["account"], "acme/wf");
    assert_eq!(
        submitted["cost"],
        json!({"spent_micros": 0, "reserved_micros": 0, "projected_micros": 1000})
    );

    let task = lease(&server, "cloud-0");
    assert_eq!(task["account"], "acme/wf/agent", "the agent reports there");
    assert_eq!(
        figure(&server, "acme/wf/agent", "reserved", "cost_micros"),
        500
    );
    assert_eq!(
        figure(&server, "acme/wf/agent", "reserved", "time_ms"),
        1000
    );
    assert_eq!(dag(&server, id)["cost"]["reserved_micros"], 500);

    clock.advance(600);
    let (status, body) = task_op(&server, &task, "complete", json!({"attempt": 1}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        figure(&server, "acme/wf/agent", "reserved", "cost_micros"),
        0
    );
    assert_eq!(
        figure(&server, "acme/wf/agent", "consumed", "cost_micros"),
        300
    );
    assert_eq!(figure(&server, "acme/wf/agent", "consumed", "time_ms"), 600);
    assert_eq!(figure(&server, "acme", "consumed", "cost_micros"), 300);
    let status = dag(&server, id);
    assert_eq!(status["tasks"][0]["cost_micros"], 300);
    assert_eq!(
        status["cost"],
        json!({"spent_micros": 300, "reserved_micros": 0, "projected_micros": 800})
    );
    // The account's report lists the DAG and its task's cost.
    let (status, report) = server.get("/v1/accounts/acme:report?format=json");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dags"][0]["id"], id);
    assert_eq!(report["dags"][0]["spent_micros"], 300);
    assert_eq!(report["dags"][0]["tasks"][0]["name"], "a");
    assert_eq!(report["dags"][0]["tasks"][0]["account"], "acme/wf/agent");
    let (_, sibling) = server.get("/v1/accounts/acme/wf/agent:report?format=json");
    assert_eq!(
        sibling["dags"],
        json!([]),
        "the DAG is charged to acme/wf, above the agent"
    );
    // The agent's own LLM usage lands on the same account as its machine time.
    server.usage_ok("acme/wf/agent", json!({"cost_micros": 40}));
    assert_eq!(
        figure(&server, "acme/wf/agent", "consumed", "cost_micros"),
        340
    );
}

#[test]
fn a_dag_its_budget_cannot_afford_pauses_and_resumes_when_the_budget_is_raised() {
    let (server, clock, _dir) = start_scheduler_manual(PRICED);
    tight_accounts(&server);
    server.put_ok("acme/wf/agent", json!({}));
    let submitted = two_tasks(&server);
    let id = submitted["id"].as_str().unwrap();
    let first = lease(&server, "cloud-0");
    clock.advance(600);
    assert_eq!(
        task_op(&server, &first, "complete", json!({"attempt": 1})).0,
        200
    );
    // 300 spent of 700: `b` needs 500; 399 can still be held (the ledger keeps an account
    // strictly below its stop threshold). No attempt starts.
    assert!(lease(&server, "cloud-0").is_null());
    let paused = dag(&server, id);
    assert_eq!(paused["state"], "paused", "{paused}");
    assert_eq!(
        paused["paused"],
        json!({"account": "acme/wf", "dimension": "cost_micros", "needed": 500, "available": 399})
    );
    let (status, listed) = server.get("/v1/dags?state=paused");
    assert_eq!(status, 200);
    assert_eq!(listed["dags"][0]["id"], id);
    let (_, audit) = server.get("/v1/audit?prefix=acme/wf");
    let entry = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["type"] == "dag")
        .unwrap_or_else(|| panic!("no dag entry in {audit}"))
        .clone();
    assert_eq!(entry["data"]["state"], "paused");
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("500 cost_micros"),
        "{entry}"
    );

    server.put_ok(
        "acme/wf",
        json!({"limits": {"cost_micros": 2_000}, "thresholds": {"stop": 1.0}}),
    );
    let second = lease(&server, "cloud-0");
    assert_eq!(second["name"], "b", "resumed by itself");
    let resumed = dag(&server, id);
    assert_eq!(resumed["state"], "running");
    assert!(resumed.get("paused").is_none(), "{resumed}");
    let (_, audit) = server.get("/v1/audit?prefix=acme/wf");
    let states: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["type"] == "dag")
        .map(|entry| &entry["data"]["state"])
        .collect();
    assert_eq!(states, [&json!("paused"), &json!("running")]);
    let (_, _, metrics) = server.get_text(server.token.as_deref(), "/metrics", &[]);
    assert!(
        metrics.contains("purser_denials_total{reason=\"dag_paused\"} 1\n"),
        "the pause is counted as a denial: {metrics}"
    );
}

#[test]
fn a_dag_without_an_account_is_not_charged() {
    let (server, _clock, _dir) = start_scheduler_manual(PRICED);
    let submitted = submit_ok(
        &server,
        json!({"tenant": "beta", "tasks": [{"id": "a", "runtime_ms": 1000}]}),
    );
    assert!(submitted.get("account").is_none(), "{submitted}");
    assert!(submitted.get("cost").is_none(), "{submitted}");
    let task = lease(&server, "cloud-0");
    assert!(task.get("account").is_none(), "{task}");
    // A tenant that is an account is charged by default.
    server.put_ok("gamma", json!({}));
    let charged = submit_ok(
        &server,
        json!({"tenant": "gamma", "tasks": [{"id": "a", "runtime_ms": 1000}]}),
    );
    assert_eq!(charged["account"], "gamma");
}

#[test]
fn accounts_outside_the_tenant_or_unknown_are_refused() {
    let (server, _clock, _dir) = start_scheduler_manual(PRICED);
    server.put_ok("acme", json!({}));
    server.put_ok("acme/wf", json!({}));
    server.put_ok("beta", json!({}));
    let outside = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "account": "beta", "tasks": [{"id": "a"}]}),
    );
    assert_error(&outside, 400, "invalid_account", Some("account"));
    let unknown = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "account": "acme/nope", "tasks": [{"id": "a"}]}),
    );
    assert_error(&unknown, 404, "account_not_found", None);
    let task_outside = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "account": "acme/wf", "tasks": [{"id": "a", "account": "acme"}]}),
    );
    assert_error(
        &task_outside,
        400,
        "invalid_field",
        Some("tasks[0].account"),
    );
    let bad_path = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "tasks": [{"id": "a", "account": "acme//x"}]}),
    );
    assert_error(&bad_path, 400, "invalid_path", Some("tasks[0].account"));
    let (_, listed) = server.get("/v1/dags");
    assert_eq!(listed["dags"], json!([]), "nothing was submitted");
}

#[test]
fn an_account_at_stop_starts_no_attempt_even_on_free_machines() {
    let (server, _clock, _dir) =
        start_scheduler_manual("[[pool]]\nname = \"local\"\nmachines = 1\ncores = 2\n");
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    // The agents' LLM usage takes the account to its stop threshold.
    server.usage_ok("acme", json!({"tokens": 990}));
    let submitted = submit_ok(&server, json!({"tenant": "acme", "tasks": [{"id": "a"}]}));
    let id = submitted["id"].as_str().unwrap();
    assert!(lease(&server, "local-0").is_null());
    let paused = dag(&server, id);
    assert_eq!(paused["state"], "paused");
    assert_eq!(paused["paused"]["account"], "acme");
    assert_eq!(paused["paused"]["dimension"], "tokens");
    // The operator raises the limit: the DAG resumes by itself at the next placement.
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    let task = lease(&server, "local-0");
    assert_eq!(task["name"], "a");
    assert_eq!(dag(&server, id)["state"], "running");
}

#[test]
fn committed_work_beyond_what_is_left_raises_an_alert_before_the_dag_pauses() {
    let (server, clock, _dir) = start_scheduler_manual(PRICED);
    tight_accounts(&server);
    // `a` (500) fits; `a` then `b` (another 500) do not fit in 700.
    submit_ok(
        &server,
        json!({"tenant": "acme", "account": "acme/wf", "tasks": [
            {"id": "a", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "b", "runtime_ms": 1000, "requests": {"cores": 2}, "depends_on": ["a"]}
        ]}),
    );
    clock.advance(5_001);
    let deadline = std::time::Instant::now() + common::POLL_DEADLINE;
    let alert = loop {
        let (_, audit) = server.get("/v1/audit?prefix=acme/wf");
        let found = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["type"] == "alert")
            .cloned();
        if let Some(alert) = found {
            break alert;
        }
        assert!(std::time::Instant::now() < deadline, "no alert in {audit}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(alert["account"], "acme/wf");
    assert_eq!(alert["data"]["dimension"], "cost_micros");
    assert_eq!(alert["data"]["method"], "committed");
    assert_eq!(alert["data"]["projected_total"], 1000);
    // Nothing has started yet: the alert comes before the first task that cannot be afforded.
    let (_, dags) = server.get("/v1/dags");
    assert_eq!(dags["dags"][0]["state"], "running");
}

/// An API pool of two callers (5 requests a minute) and two reviewers working 09:00-17:00 UTC
/// on weekdays. The manual clock starts on Thursday 2026-11-19 at 10:30 UTC.
const API_AND_PEOPLE: &str = "[[pool]]\nname = \"llm\"\nkind = \"api\"\nmachines = 2\nrequests_per_minute = 5\n\
[[pool]]\nname = \"rev\"\nkind = \"people\"\npeople = 2\nhours = \"09:00-17:00\"\ndays = \"mon-fri\"\ntimezone = \"UTC\"\n";

#[test]
fn api_tasks_wait_for_their_window_and_people_work_their_hours() {
    let (server, clock, _dir) = start_scheduler_manual(API_AND_PEOPLE);
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "draft", "uses": {"requests": 3}},
            {"id": "polish", "uses": {"requests": 3}},
            {"id": "approve", "person": true, "runtime_ms": 3_600_000, "depends_on": ["draft"]}
        ]}),
    );
    let id = submitted["id"].as_str().unwrap();
    let first = lease(&server, "llm-0");
    assert_eq!(first["name"], "draft");
    // 3 of 5 requests are taken this minute: `polish` (3 more) waits for the window.
    assert!(lease(&server, "llm-1").is_null());
    assert_eq!(
        task_op(&server, &first, "complete", json!({"attempt": 1})).0,
        200
    );
    let review = lease(&server, "rev-0");
    assert_eq!(review["name"], "approve", "a person, within working hours");
    clock.advance(60_001);
    assert_eq!(lease(&server, "llm-1")["name"], "polish");
    // The reviewer's lease runs in working time: an hour of work plus one TTL.
    assert_eq!(
        task_op(&server, &review, "complete", json!({"attempt": 1})).0,
        200
    );
    assert_eq!(dag(&server, id)["counts"]["COMPLETED"], 2);
    // Thursday 18:00: nobody works, a reviewer's lease answers nothing.
    submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [{"id": "late", "person": true}]}),
    );
    clock.advance(7 * 3_600_000);
    assert!(lease(&server, "rev-1").is_null());
    // A call that uses more than the pool allows in a minute is refused with the field named.
    let (status, body) = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "tasks": [{"id": "x", "uses": {"requests": 9}}]}),
    );
    assert_error(&(status, body), 400, "invalid_field", Some("tasks[0].uses"));
}

#[test]
fn tasks_request_custom_dimensions_that_pools_offer() {
    let (server, _clock, _dir) = start_scheduler_manual(
        "[[pool]]\nname = \"cad\"\nmachines = 1\ncores = 8\ncapacity = { licenses = 1 }\n",
    );
    let submitted = submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "a", "requests": {"cores": 2, "licenses": 1}},
            {"id": "b", "requests": {"cores": 2, "licenses": 1}}
        ]}),
    );
    assert_eq!(submitted["tasks"][0]["requests"]["licenses"], 1);
    let first = lease(&server, "cad-0");
    assert_eq!(first["requests"]["licenses"], 1);
    assert!(
        lease(&server, "cad-0").is_null(),
        "one license: the second waits though cores are free"
    );
    let unknown = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "tasks": [{"id": "x", "requests": {"seats": 1}}]}),
    );
    let error = assert_error(
        &unknown,
        400,
        "unknown_field",
        Some("tasks[0].requests.seats"),
    );
    assert!(
        error["message"].as_str().unwrap().contains("licenses"),
        "{error}"
    );
    let too_many = server.post(
        "/v1/dags",
        json!({"tenant": "acme", "tasks": [{"id": "y", "requests": {"licenses": 2}}]}),
    );
    assert_error(
        &too_many,
        400,
        "no_pool_fits",
        Some("tasks[0].requests.licenses"),
    );
}
