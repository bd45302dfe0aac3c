//! Usage over HTTP: single reports, idempotent retries, batches and body size limits.

mod common;

use common::{TestServer, assert_error, assert_error_body, start};
use serde_json::{Value, json};

/// `acme` with 1000 tokens and `acme/wf` without a token limit of its own.
fn server_with_accounts() -> (TestServer, tempfile::TempDir) {
    let (server, dir) = start();
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1000, "cost_micros": 1_000_000}}),
    );
    server.put_ok("acme/wf", json!({}));
    server.put_ok("acme/capped", json!({"limits": {"tokens": 100}}));
    (server, dir)
}

#[test]
fn usage_is_recorded_and_answers_the_action() {
    let (server, _dir) = server_with_accounts();
    let (status, answer) = server.post(
        "/v1/usage",
        json!({"account": "acme/wf", "usage": {"tokens": 300, "cost_micros": 11_000},
               "operation": "llm_call", "work_units": 1, "idempotency_key": "a1",
               "occurred_at": "2026-11-21T10:30:15Z"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer["seq"].as_u64().unwrap() > 0);
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["level"], "green");
    assert_eq!(answer["action"], json!({"kind": "continue"}));
    assert_eq!(answer["fired"], Value::Null);
    assert_eq!(
        answer["remaining"],
        json!({"tokens": 700, "cost_micros": 989_000})
    );
    assert!(answer.get("expired").is_none(), "{answer}");

    // 800 of 1000 on the parent: orange, throttled, fired by the ancestor.
    let answer = server.usage_ok("acme/wf", json!({"tokens": 500}));
    assert_eq!(answer["level"], "orange", "{answer}");
    assert_eq!(answer["action"], json!({"kind": "throttle", "rate": 0.5}));
    assert_eq!(answer["fired"]["account"], "acme");
    assert_eq!(answer["fired"]["dimension"], "tokens");
    assert!((answer["fired"]["fraction"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    let child = server.status("acme/wf");
    assert_eq!(child["consumed"]["tokens"], 800);
    assert_eq!(child["work_units"], 1);
    assert_eq!(
        child["level"], "orange",
        "an ancestor sets the level: {child}"
    );
    assert_eq!(child["fired"]["account"], "acme");

    // Usage past the limit is recorded all the same; remaining stays at zero.
    let answer = server.usage_ok("acme/wf", json!({"tokens": 700}));
    assert_eq!(answer["level"], "black", "{answer}");
    assert_eq!(answer["action"]["kind"], "stop");
    assert_eq!(answer["remaining"]["tokens"], 0);
    let parent = server.status("acme");
    assert_eq!(parent["consumed"]["tokens"], 1500);
    assert_eq!(parent["remaining"]["tokens"], 0);
    assert!((parent["fraction"].as_f64().unwrap() - 1.5).abs() < 1e-9);
    // A custom dimension is counted without a limit.
    let answer = server.usage_ok("acme/wf", json!({"gpu_seconds": 7}));
    assert!(answer["remaining"].get("gpu_seconds").is_none());
    assert_eq!(server.status("acme")["consumed"]["gpu_seconds"], 7);
}

#[test]
fn bad_usage_names_the_field_and_changes_nothing() {
    let (server, _dir) = server_with_accounts();
    server.usage_ok("acme/capped", json!({"tokens": 10}));
    let before = server.status("acme");
    let post = |body: &str| server.raw("POST", "/v1/usage", body.as_bytes().to_vec());
    for (body, code, field) in [
        (
            r#"{"account":"acme/capped","usage":{"tokens":-5}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":1.5}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"account":"acme/capped","usage":{"cost_micros":1e3}}"#,
            "invalid_amount",
            "usage.cost_micros",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":18446744073709551616}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":null}}"#,
            "invalid_amount",
            "usage.tokens",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":1},"tokenz":1}"#,
            "unknown_field",
            "tokenz",
        ),
        (
            r#"{"account":"Acme","usage":{"tokens":1}}"#,
            "invalid_path",
            "account",
        ),
        (
            r#"{"account":"acme/capped","usage":{"Tokens":1}}"#,
            "invalid_dimension",
            "usage.Tokens",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":1},"work_units":-1}"#,
            "invalid_field",
            "work_units",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":1},"occurred_at":"yesterday"}"#,
            "invalid_field",
            "occurred_at",
        ),
        (
            r#"{"account":"acme/capped","usage":{"tokens":1},"idempotency_key":""}"#,
            "invalid_field",
            "idempotency_key",
        ),
        // The largest amount parses, but is more than one report may carry.
        (
            r#"{"account":"acme/capped","usage":{"tokens":18446744073709551615}}"#,
            "amount_too_large",
            "usage.tokens",
        ),
    ] {
        assert_error(&post(body), 400, code, Some(field));
    }
    assert_error(
        &post(r#"{"usage":{}}"#),
        400,
        "invalid_field",
        Some("account"),
    );
    assert_error(&post("nonsense"), 400, "invalid_json", None);
    assert_error(
        &post(r#"["acme", {"tokens": 5}]"#),
        400,
        "invalid_json",
        None,
    );
    assert_eq!(
        server.status("acme"),
        before,
        "a failed request changes nothing"
    );
    assert_eq!(server.status("acme/capped")["consumed"]["tokens"], 10);
}

#[test]
fn an_idempotent_retry_is_counted_once() {
    let (server, _dir) = server_with_accounts();
    let report = json!({"account": "acme/wf", "usage": {"tokens": 40}, "idempotency_key": "k-1"});
    let (status, first) = server.post("/v1/usage", report.clone());
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["duplicate"], false);
    server.usage_ok("acme/wf", json!({"tokens": 1}));

    let (status, retry) = server.post("/v1/usage", report);
    assert_eq!(status, 200, "{retry}");
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["seq"], first["seq"], "the first result is answered");
    assert_eq!(retry["remaining"], first["remaining"]);
    assert_eq!(server.status("acme/wf")["consumed"]["tokens"], 41);

    // Keys are per account: the same key elsewhere counts.
    let (_, other) = server.post(
        "/v1/usage",
        json!({"account": "acme/capped", "usage": {"tokens": 40}, "idempotency_key": "k-1"}),
    );
    assert_eq!(other["duplicate"], false, "{other}");
    assert_eq!(server.status("acme")["consumed"]["tokens"], 81);
}

#[test]
fn one_bad_batch_item_does_not_affect_the_others() {
    // Regression: an item refused by the ledger named `usage.tokens`, a decoding error
    // `reports[1].usage.tokens`; both now name the field from the top of the batch.
    let (server, _dir) = server_with_accounts();
    let body = format!(
        r#"{{"reports": [
            {{"account": "acme/wf", "usage": {{"tokens": 10}}, "idempotency_key": "b-1"}},
            {{"account": "acme/wf", "usage": {{"tokens": -3}}}},
            {{"account": "acme/nope", "usage": {{"tokens": 5}}}},
            {{"account": "acme/wf", "usage": {{"tokens": 1}}, "extra": true}},
            {{"account": "acme/capped", "usage": {{"tokens": 20}}}},
            {{"account": "acme/wf", "usage": {{"tokens": 10}}, "idempotency_key": "b-1"}},
            {{"account": "acme/wf", "usage": {{"tokens": {}}}}}
        ]}}"#,
        u64::MAX
    );
    let (status, answer) = server.raw("POST", "/v1/usage:batch", body.into_bytes());
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 7, "{answer}");
    assert_eq!(results[0]["duplicate"], false);
    let item = |idx: usize, code: &str, field: Option<&str>| {
        assert_error_body(&results[idx], code, field);
    };
    item(1, "invalid_amount", Some("reports[1].usage.tokens"));
    item(2, "account_not_found", None);
    item(3, "unknown_field", Some("reports[3].extra"));
    item(6, "amount_too_large", Some("reports[6].usage.tokens"));
    assert_eq!(results[4]["remaining"]["tokens"], 80, "{}", results[4]);
    assert_eq!(results[5]["duplicate"], true, "{}", results[5]);
    assert_eq!(results[5]["seq"], results[0]["seq"]);
    assert_eq!(server.status("acme/wf")["consumed"]["tokens"], 10);
    assert_eq!(server.status("acme")["consumed"]["tokens"], 30);

    // An empty batch is fine; a body that is not a batch is not.
    let (status, answer) = server.post("/v1/usage:batch", json!({"reports": []}));
    assert_eq!((status, answer), (200, json!({"results": []})));
    assert_error(
        &server.post("/v1/usage:batch", json!({"report": []})),
        400,
        "unknown_field",
        Some("report"),
    );
}

/// A batch of `n` reports of one token each, every one with a distinct key `pad` bytes long.
fn batch_body(n: usize, pad: usize) -> Vec<u8> {
    let reports: Vec<Value> = (0..n)
        .map(|idx| {
            json!({"account": "acme/wf", "usage": {"tokens": 1},
                   "idempotency_key": format!("{idx:0>pad$}")})
        })
        .collect();
    json!({ "reports": reports }).to_string().into_bytes()
}

#[test]
fn a_batch_holds_at_most_10000_reports() {
    let (server, _dir) = server_with_accounts();
    // 10,000 reports in more than 1 MiB: a batch may be larger than a single request.
    let body = batch_body(10_000, 120);
    assert!(body.len() > 1 << 20);
    let (status, answer) = server.raw("POST", "/v1/usage:batch", body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"].as_array().unwrap().len(), 10_000);
    assert_eq!(server.status("acme/wf")["consumed"]["tokens"], 10_000);

    let answer = server.raw("POST", "/v1/usage:batch", batch_body(10_001, 8));
    assert_error(&answer, 400, "too_many_reports", Some("reports"));
    assert_eq!(server.status("acme/wf")["consumed"]["tokens"], 10_000);
}

/// A JSON document of about `len` bytes that is valid up to its size.
fn padded_usage(len: usize) -> Vec<u8> {
    let padding = " ".repeat(len);
    format!(r#"{{"account": "acme/wf", "usage": {{"tokens": 1}}{padding}}}"#).into_bytes()
}

#[test]
fn bodies_over_the_size_limit_are_413() {
    let (server, _dir) = server_with_accounts();
    const MIB: usize = 1 << 20;
    // Just under the limit is accepted, so the 413s below come from the size alone.
    let (status, answer) = server.raw("POST", "/v1/usage", padded_usage(MIB - 100));
    assert_eq!(status, 200, "{answer}");
    for (method, path) in [
        ("POST", "/v1/usage"),
        ("POST", "/v1/reservations"),
        ("PUT", "/v1/accounts/acme/wf"),
        ("POST", "/v1/accounts/acme:allocate"),
    ] {
        let answer = server.raw(method, path, padded_usage(MIB + 1));
        assert_error(&answer, 413, "body_too_large", None);
    }
    let hold = server.reserve_ok(json!({"account": "acme/wf", "amount": {"tokens": 1}}));
    let settle = format!("/v1/reservations/{}:settle", hold["id"].as_str().unwrap());
    assert_error(
        &server.raw("POST", &settle, padded_usage(MIB + 1)),
        413,
        "body_too_large",
        None,
    );

    let batch = |len: usize| {
        let padding = " ".repeat(len);
        format!(r#"{{"reports": [{{"account": "acme/wf", "usage": {{"tokens": 1}}}}]{padding}}}"#)
            .into_bytes()
    };
    let (status, answer) = server.raw("POST", "/v1/usage:batch", batch(2 * MIB));
    assert_eq!(status, 200, "{answer}");
    let answer = server.raw("POST", "/v1/usage:batch", batch(16 * MIB + 1));
    assert_error(&answer, 413, "body_too_large", None);
    assert_eq!(server.status("acme/wf")["consumed"]["tokens"], 2);
}
