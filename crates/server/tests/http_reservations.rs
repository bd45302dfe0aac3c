//! Reservations over HTTP: holds, settlements, voids, denials and expiry by the server's clock.

mod common;

use std::time::{Duration, Instant};

use common::{
    TestServer, assert_budget_error, assert_error, assert_rfc3339, config, start, start_manual,
};
use purser_engine::ManualClock;
use serde_json::{Value, json};

/// `acme` with 1000 tokens (stop at 95%) and `acme/wf` under it without a limit of its own.
fn server_with_accounts() -> (TestServer, tempfile::TempDir) {
    let (server, dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    server.put_ok("acme/wf", json!({}));
    (server, dir)
}

/// The same accounts on a server whose clock moves only when the test says.
fn manual_server_with_accounts() -> (TestServer, ManualClock, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server, clock) = start_manual(config(dir.path()));
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    server.put_ok("acme/wf", json!({}));
    (server, clock, dir)
}

fn reserved_tokens(server: &TestServer, account_path: &str) -> u64 {
    server.status(account_path)["reserved"]["tokens"]
        .as_u64()
        .unwrap_or(0)
}

fn action_path(reservation: &Value, method: &str) -> String {
    let id = reservation["id"].as_str().expect("a reservation id");
    format!("/v1/reservations/{id}:{method}")
}

#[test]
fn reserve_settle_and_settle_again() {
    let (server, _dir) = server_with_accounts();
    let (status, hold) = server.post(
        "/v1/reservations",
        json!({"account": "acme/wf", "amount": {"tokens": 400}, "ttl_ms": 120_000,
               "idempotency_key": "call-77"}),
    );
    assert_eq!(status, 201, "{hold}");
    assert!(hold["id"].as_str().unwrap().starts_with("rsv_"), "{hold}");
    assert_rfc3339(&hold["expires_at"]);
    assert_eq!(hold["level"], "green");
    assert_eq!(hold["action"], json!({"kind": "continue"}));
    assert_eq!(reserved_tokens(&server, "acme/wf"), 400);
    assert_eq!(reserved_tokens(&server, "acme"), 400, "held up the path");
    assert_eq!(server.status("acme")["remaining"]["tokens"], 600);
    assert_eq!(server.status("acme/wf")["open_reservations"], 1);

    // The same key answers the same hold and holds nothing more.
    let (status, again) = server.post(
        "/v1/reservations",
        json!({"account": "acme/wf", "amount": {"tokens": 400}, "idempotency_key": "call-77"}),
    );
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], hold["id"]);
    assert_eq!(again["duplicate"], true);
    assert_eq!(reserved_tokens(&server, "acme"), 400);

    // Settle for more than was held: the actual usage is charged and the hold released.
    let settle = action_path(&hold, "settle");
    let body = json!({"usage": {"tokens": 450}, "operation": "llm_call", "work_units": 1});
    let (status, settled) = server.post(&settle, body.clone());
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["duplicate"], false);
    assert_eq!(settled["remaining"]["tokens"], 550);
    assert_eq!(settled["level"], "green");
    assert!(settled.get("expired").is_none(), "{settled}");
    let account = server.status("acme/wf");
    assert_eq!(account["consumed"]["tokens"], 450);
    assert_eq!(account["reserved"]["tokens"], 0);
    assert_eq!(account["open_reservations"], 0);
    assert_eq!(account["work_units"], 1);

    let (status, second) = server.post(&settle, json!({"usage": {"tokens": 999}}));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["seq"], settled["seq"]);
    assert_eq!(second["remaining"], settled["remaining"]);
    assert_eq!(server.status("acme")["consumed"]["tokens"], 450, "once");

    // A settled hold cannot be voided.
    let answer = server.post(&action_path(&hold, "void"), json!({}));
    assert_error(&answer, 409, "reservation_closed", None);
}

#[test]
fn void_releases_the_hold_and_a_voided_hold_cannot_be_settled() {
    let (server, _dir) = server_with_accounts();
    let hold = server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 300}}));
    assert_eq!(reserved_tokens(&server, "acme"), 300);
    let (status, voided) = server.post(&action_path(&hold, "void"), json!({}));
    assert_eq!(status, 200, "{voided}");
    assert_eq!(voided, json!({"id": hold["id"], "state": "void"}));
    assert_eq!(reserved_tokens(&server, "acme"), 0);
    assert_eq!(server.status("acme")["remaining"]["tokens"], 1000);

    let answer = server.post(
        &action_path(&hold, "settle"),
        json!({"usage": {"tokens": 1}}),
    );
    assert_error(&answer, 409, "reservation_void", None);
    assert_eq!(server.status("acme")["consumed"]["tokens"], 0);
    // Voiding again is harmless.
    let (status, again) = server.post(&action_path(&hold, "void"), json!({}));
    assert_eq!((status, &again["state"]), (200, &json!("void")), "{again}");
}

#[test]
fn a_hold_that_would_reach_stop_is_denied_naming_account_and_dimension() {
    let (server, _dir) = server_with_accounts();
    server.usage_ok("acme/wf", json!({"tokens": 900}));
    let before = server.status("acme");
    // 900 + 50 reaches the stop threshold of 950 on the parent.
    let answer = server.post(
        "/v1/reservations",
        json!({"account": "acme/wf", "amount": {"tokens": 50}}),
    );
    let error = assert_error(&answer, 409, "budget_exhausted", None);
    assert_budget_error(&error, "acme", "tokens", 50);
    assert_eq!(error["available"], 49);
    assert_eq!(server.status("acme"), before, "a denial holds nothing");

    // Strictly below stop is granted.
    let hold = server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 49}}));
    assert_eq!(hold["level"], "red", "{hold}");
    // A dimension without a limit anywhere is never denied.
    server.reserve_ok(json!({"account": "acme/wf", "amount": {"gpu": 1_000_000}}));
}

#[test]
fn bad_reservations_name_the_field() {
    let (server, _dir) = server_with_accounts();
    let post = |body: &str| server.raw("POST", "/v1/reservations", body.as_bytes().to_vec());
    for (body, code, field) in [
        (
            r#"{"account":"acme/wf","amount":{"tokens":-1}}"#,
            "invalid_amount",
            "amount.tokens",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":0.5}}"#,
            "invalid_amount",
            "amount.tokens",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":99999999999999999999}}"#,
            "invalid_amount",
            "amount.tokens",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":1},"ttl":5}"#,
            "unknown_field",
            "ttl",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":1},"ttl_ms":0}"#,
            "invalid_field",
            "ttl_ms",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":1},"ttl_ms":3600001}"#,
            "invalid_field",
            "ttl_ms",
        ),
        (
            r#"{"account":"acme/wf","amount":{"tokens":1},"ttl_ms":-5}"#,
            "invalid_field",
            "ttl_ms",
        ),
        (
            r#"{"account":"acme//wf","amount":{"tokens":1}}"#,
            "invalid_path",
            "account",
        ),
    ] {
        assert_error(&post(body), 400, code, Some(field));
    }
    assert_eq!(reserved_tokens(&server, "acme"), 0);

    // The longest TTL is accepted; the default is 60 s.
    server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 1}, "ttl_ms": 3_600_000}));
    let hold = server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 1}}));
    let expires = humantime::parse_rfc3339(hold["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(
        ttl > Duration::from_secs(50) && ttl <= Duration::from_secs(60),
        "{ttl:?}"
    );

    let settle = action_path(&hold, "settle");
    let settle_raw = |body: &str| server.raw("POST", &settle, body.as_bytes().to_vec());
    for (body, code, field) in [
        (
            r#"{"usage":{"tokens":-1}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"usage":{"tokens":2.5}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"usage":{"tokens":1},"usag":{}}"#,
            "unknown_field",
            "usag",
        ),
        (
            r#"{"usage":{"tokens":1},"work_units":1.5}"#,
            "invalid_field",
            "work_units",
        ),
    ] {
        assert_error(&settle_raw(body), 400, code, Some(field));
    }
    assert_eq!(server.status("acme")["consumed"]["tokens"], 0);
    assert_eq!(server.status("acme/wf")["open_reservations"], 2);

    let id = hold["id"].as_str().unwrap();
    let answer = server.post(&format!("/v1/reservations/{id}"), json!({}));
    assert_error(&answer, 405, "method_not_allowed", None);
    let answer = server.post(&format!("/v1/reservations/{id}:renew"), json!({}));
    assert_error(&answer, 404, "not_found", None);
}

#[test]
fn holds_past_their_ttl_are_released_by_the_server_clock() {
    let (server, clock, _dir) = manual_server_with_accounts();
    let long = server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 7}}));
    let short =
        server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 100}, "ttl_ms": 200}));
    assert_eq!(reserved_tokens(&server, "acme/wf"), 107);
    clock.advance(200);
    let started = Instant::now();
    // Only the short hold goes: the long one proves the release is selective.
    let released = server.poll_status("acme/wf", |status| status["reserved"]["tokens"] == 7);
    let released = released.unwrap_or_else(|| {
        panic!(
            "not released within {:?}: {}",
            common::POLL_DEADLINE,
            server.status("acme/wf")
        )
    });
    // The clock's tick runs every 200 ms: a hold goes within a second of its expiry (and a
    // margin for a busy machine).
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "released {:?} after its expiry",
        started.elapsed()
    );
    assert_eq!(released["open_reservations"], 1);
    assert_eq!(reserved_tokens(&server, "acme"), 7);
    assert_eq!(server.status("acme")["consumed"]["tokens"], 0);

    // An expired hold cannot be voided, and the long one still can.
    assert_error(
        &server.post(&action_path(&short, "void"), json!({})),
        409,
        "reservation_closed",
        None,
    );
    let (status, _) = server.post(&action_path(&long, "void"), json!({}));
    assert_eq!(status, 200);
}

#[test]
fn settling_an_expired_hold_records_the_usage_marked_expired() {
    let (server, clock, _dir) = manual_server_with_accounts();
    let hold =
        server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 100}, "ttl_ms": 50}));
    clock.advance(50);
    let released = server.poll_status("acme/wf", |status| {
        status["reserved"]["tokens"] == 0 && status["open_reservations"] == 0
    });
    assert!(released.is_some(), "the hold was never released");

    let settle = action_path(&hold, "settle");
    let (status, settled) = server.post(&settle, json!({"usage": {"tokens": 80}}));
    assert_eq!(status, 200, "{settled}");
    assert_eq!(settled["expired"], true);
    assert_eq!(settled["duplicate"], false);
    assert_eq!(settled["remaining"]["tokens"], 920);
    let account = server.status("acme/wf");
    assert_eq!(account["consumed"]["tokens"], 80);
    assert_eq!(account["reserved"]["tokens"], 0, "nothing held twice");

    let (status, again) = server.post(&settle, json!({"usage": {"tokens": 80}}));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["expired"], true);
    assert_eq!(server.status("acme")["consumed"]["tokens"], 80);
}
