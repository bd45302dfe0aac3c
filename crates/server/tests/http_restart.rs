//! Restart durability: a new server on the same data directory answers the same figures, and
//! idempotency keys and reservations survive it.

mod common;

use common::{TestServer, assert_error, config, start_with};
use purser_server::Config;
use purser_server::config::DurabilityConfig;
use serde_json::{Value, json};

/// What one run leaves behind, to compare after the restart.
struct Before {
    statuses: Value,
    keyed_usage: Value,
    settled: Value,
    settled_id: String,
    open_id: String,
    keyed_hold: Value,
}

fn fill(server: &TestServer) -> Before {
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 10_000, "cost_micros": 5_000_000}, "kind": "org"}),
    );
    server.put_ok(
        "acme/research",
        json!({"limits": {"tokens": 4_000}, "weight": 2.0}),
    );
    let (status, _) = server.post(
        "/v1/accounts/acme/research:allocate",
        json!({"strategy": "equal", "total": {"tokens": 3_000},
               "children": [{"name": "wf-1"}, {"name": "wf-2"}]}),
    );
    assert_eq!(status, 200);
    server.put_ok("acme/gone", json!({"limits": {"tokens": 100}}));
    assert_eq!(server.delete("/v1/accounts/acme/gone").0, 200);

    let (status, keyed_usage) = server.post(
        "/v1/usage",
        json!({"account": "acme/research/wf-1", "usage": {"tokens": 700, "cost_micros": 9_000},
               "work_units": 3, "idempotency_key": "report-1"}),
    );
    assert_eq!(status, 200, "{keyed_usage}");
    server.usage_ok("acme/research/wf-2", json!({"tokens": 100}));
    let (status, _) = server.post(
        "/v1/usage:batch",
        json!({"reports": [{"account": "acme/research/wf-2", "usage": {"tokens": 5},
                            "idempotency_key": "batch-1"}]}),
    );
    assert_eq!(status, 200);

    let to_settle = server.reserve_ok(
        json!({"account": "acme/research/wf-1", "amount": {"tokens": 300}, "ttl_ms": 3_600_000}),
    );
    let settled_id = to_settle["id"].as_str().unwrap().to_string();
    let (status, settled) = server.post(
        &format!("/v1/reservations/{settled_id}:settle"),
        json!({"usage": {"tokens": 250}}),
    );
    assert_eq!(status, 200, "{settled}");
    let keyed_hold = server.reserve_ok(json!({"account": "acme/research/wf-2",
        "amount": {"tokens": 400}, "ttl_ms": 3_600_000, "idempotency_key": "hold-1"}));
    let open_id = keyed_hold["id"].as_str().unwrap().to_string();

    let (status, statuses) = server.get("/v1/accounts?depth=8");
    assert_eq!(status, 200);
    Before {
        statuses,
        keyed_usage,
        settled,
        settled_id,
        open_id,
        keyed_hold,
    }
}

fn check_after_restart(server: &TestServer, before: &Before) {
    let (status, statuses) = server.get("/v1/accounts?depth=8");
    assert_eq!(status, 200);
    assert_eq!(statuses, before.statuses, "the figures survive the restart");
    assert_error(
        &server.get("/v1/accounts/acme/gone"),
        404,
        "account_not_found",
        None,
    );
    let research = server.status("acme/research");
    assert_eq!(research["consumed"]["tokens"], 1_055);
    assert_eq!(research["reserved"]["tokens"], 400);

    // Retried keys answer the first results and count nothing.
    let (status, retry) = server.post(
        "/v1/usage",
        json!({"account": "acme/research/wf-1", "usage": {"tokens": 700, "cost_micros": 9_000},
               "work_units": 3, "idempotency_key": "report-1"}),
    );
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["seq"], before.keyed_usage["seq"]);
    let (_, batch) = server.post(
        "/v1/usage:batch",
        json!({"reports": [{"account": "acme/research/wf-2", "usage": {"tokens": 5},
                            "idempotency_key": "batch-1"}]}),
    );
    assert_eq!(batch["results"][0]["duplicate"], true, "{batch}");
    let (status, settle_again) = server.post(
        &format!("/v1/reservations/{}:settle", before.settled_id),
        json!({"usage": {"tokens": 1}}),
    );
    assert_eq!(status, 200, "{settle_again}");
    assert_eq!(settle_again["duplicate"], true);
    assert_eq!(settle_again["seq"], before.settled["seq"]);
    let (status, hold_again) = server.post(
        "/v1/reservations",
        json!({"account": "acme/research/wf-2", "amount": {"tokens": 400},
               "ttl_ms": 3_600_000, "idempotency_key": "hold-1"}),
    );
    assert_eq!(status, 201, "{hold_again}");
    assert_eq!(hold_again["id"], before.keyed_hold["id"]);
    assert_eq!(hold_again["duplicate"], true);
    let (_, unchanged) = server.get("/v1/accounts?depth=8");
    assert_eq!(
        unchanged, before.statuses,
        "retries after the restart count nothing"
    );

    // The open hold is still open, and the server goes on numbering after the old events.
    let (status, voided) = server.post(
        &format!("/v1/reservations/{}:void", before.open_id),
        json!({}),
    );
    assert_eq!(
        (status, &voided["state"]),
        (200, &json!("void")),
        "{voided}"
    );
    assert_eq!(server.status("acme/research")["reserved"]["tokens"], 0);
    let fresh = server.usage_ok("acme/research/wf-1", json!({"tokens": 1}));
    assert!(fresh["seq"].as_u64().unwrap() > before.settled["seq"].as_u64().unwrap());
}

fn restart_keeps_everything(config: Config) {
    let first = start_with(config.clone());
    let before = fill(&first);
    first.stop().expect("the first server stops cleanly");

    let second = start_with(config.clone());
    check_after_restart(&second, &before);
    second.stop().expect("the second server stops cleanly");

    // A third start replays what the second one wrote as well.
    let third = start_with(config);
    assert_eq!(third.status("acme/research")["consumed"]["tokens"], 1_056);
    assert_eq!(third.status("acme/research")["reserved"]["tokens"], 0);
}

#[test]
fn figures_and_idempotency_keys_survive_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    restart_keeps_everything(Config {
        durability: DurabilityConfig::Fsync,
        ..config(dir.path())
    });
}

#[test]
fn figures_and_idempotency_keys_survive_a_restart_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A snapshot every few events: recovery reads a snapshot, then replays the journal after it.
    restart_keeps_everything(Config {
        snapshot_every_events: 4,
        ..config(dir.path())
    });
}
