//! Accounts over HTTP: PUT, GET, listing, DELETE, allocation, and the operations endpoints.

mod common;

use common::{assert_budget_error, assert_error, assert_rfc3339, start};
use serde_json::{Value, json};

#[test]
fn health_ready_and_openapi_answer() {
    // Regression: /openapi.json listed `:settle` but not `:void` (one route served both).
    let (server, _dir) = start();
    let (status, body) = server.get("/healthz");
    assert_eq!((status, &body["status"]), (200, &json!("ok")), "{body}");
    let (status, body) = server.get("/readyz");
    assert_eq!((status, &body["status"]), (200, &json!("ready")), "{body}");

    let (status, doc) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, not {version}");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/openapi.json", "get"),
        ("/v1/accounts", "get"),
        ("/v1/accounts/{path}", "get"),
        ("/v1/accounts/{path}", "put"),
        ("/v1/accounts/{path}", "delete"),
        ("/v1/accounts/{path}:allocate", "post"),
        ("/v1/usage", "post"),
        ("/v1/usage:batch", "post"),
        ("/v1/reservations", "post"),
        ("/v1/reservations/{id}:settle", "post"),
        ("/v1/reservations/{id}:void", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path} missing from /openapi.json: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[test]
fn unknown_endpoints_and_methods_answer_errors() {
    let (server, _dir) = start();
    assert_error(&server.get("/v1/nothing-here"), 404, "not_found", None);
    server.put_ok("acme", json!({}));
    assert_error(
        &server.get("/v1/accounts/acme:frobnicate"),
        404,
        "not_found",
        None,
    );
    assert_error(
        &server.post("/v1/accounts/acme:frobnicate", json!({})),
        404,
        "not_found",
        None,
    );
}

#[test]
fn put_creates_and_get_answers_the_status_shape() {
    let (server, _dir) = start();
    let created = server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1000, "cost_micros": 50_000_000},
               "weight": 2.0, "priority": 1, "kind": "org", "labels": {"team": "research"},
               "thresholds": {"warn": 0.5, "throttle": 0.75, "degrade": 0.9, "stop": 0.95},
               "throttle_rate": 0.5, "reserve": 0.1}),
    );
    server.put_ok("acme/research", json!({"limits": {"tokens": 300}}));
    server.usage_ok("acme/research", json!({"tokens": 100}));

    let status = server.status("acme");
    assert_eq!(created["path"], "acme");
    assert_eq!(status["path"], "acme");
    assert_eq!(status["kind"], "org");
    assert_eq!(
        status["limits"],
        json!({"tokens": 1000, "cost_micros": 50_000_000})
    );
    assert_eq!(status["consumed"]["tokens"], 100);
    assert_eq!(status["reserved"]["tokens"], 0);
    assert_eq!(status["remaining"]["tokens"], 900);
    assert_eq!(
        status["pool"]["tokens"], 700,
        "the child's limit left the pool"
    );
    assert!((status["fraction"].as_f64().unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(status["level"], "green");
    assert_eq!(status["action"], json!({"kind": "continue"}));
    assert_eq!(status["fired"], Value::Null);
    assert_eq!(status["children"], json!(["research"]));
    assert_rfc3339(&status["last_activity_at"]);
    assert!(status["seq"].as_u64().unwrap() > 0);
    assert_eq!(status["labels"], json!({"team": "research"}));

    // A PUT updates what it names and keeps the rest.
    let updated = server.put_ok("acme", json!({"weight": 3.0}));
    assert_eq!(updated["weight"], 3.0);
    assert_eq!(updated["kind"], "org");
    assert_eq!(updated["limits"]["tokens"], 1000);
    // An empty body is an empty update.
    let (status, _) = server.raw("PUT", "/v1/accounts/acme", Vec::new());
    assert_eq!(status, 200);
}

#[test]
fn put_rejects_bad_input_naming_the_field() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    let before = server.status("acme");
    let put = |body: &str| server.raw("PUT", "/v1/accounts/acme", body.as_bytes().to_vec());
    for (body, code, field) in [
        (
            r#"{"limits":{"tokens":-1}}"#,
            "invalid_amount",
            "limits.tokens",
        ),
        (
            r#"{"limits":{"tokens":1.5}}"#,
            "invalid_amount",
            "limits.tokens",
        ),
        (
            r#"{"limits":{"tokens":18446744073709551616}}"#,
            "invalid_amount",
            "limits.tokens",
        ),
        (
            r#"{"limits":{"tokens":"5"}}"#,
            "invalid_amount",
            "limits.tokens",
        ),
        (r#"{"limitz":{"tokens":5}}"#, "unknown_field", "limitz"),
        (
            r#"{"thresholds":{"wran":0.5}}"#,
            "unknown_field",
            "thresholds.wran",
        ),
        (
            r#"{"limits":{"Bad-Name":5}}"#,
            "invalid_dimension",
            "limits.Bad-Name",
        ),
        (
            r#"{"period":{"every":"fortnight"}}"#,
            "invalid_field",
            "period.every",
        ),
        (
            r#"{"period":{"every":"day","tz":"UTC"}}"#,
            "unknown_field",
            "period.tz",
        ),
        (r#"{"deadline":"tomorrow"}"#, "invalid_field", "deadline"),
    ] {
        assert_error(&put(body), 400, code, Some(field));
    }
    assert_error(&put("not json"), 400, "invalid_json", None);
    assert_error(&put(r#"{"limits":"#), 400, "invalid_json", Some("limits"));
    assert_eq!(
        server.status("acme"),
        before,
        "a failed request changes nothing"
    );

    // Invalid paths.
    for path in [
        "Acme",
        "acme/Research",
        "acme/-x",
        "acme//x",
        "a/b/c/d/e/f/g/h/i",
        &"x".repeat(65),
    ] {
        let answer = server.put(&format!("/v1/accounts/{path}"), json!({}));
        assert_error(&answer, 400, "invalid_path", Some("path"));
    }
    // The parent must exist.
    assert_error(
        &server.put("/v1/accounts/nope/child", json!({})),
        404,
        "parent_not_found",
        None,
    );
    let (status, listing) = server.get("/v1/accounts?depth=8");
    assert_eq!(status, 200);
    assert_eq!(
        listing["accounts"].as_array().unwrap().len(),
        1,
        "{listing}"
    );
}

#[test]
fn a_child_limit_beyond_the_parent_pool_is_insufficient_pool() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}, "reserve": 0.1}));
    // 10% of 1000 stays in reserve: 900 may go to children.
    let answer = server.put("/v1/accounts/acme/a", json!({"limits": {"tokens": 901}}));
    let error = assert_error(&answer, 409, "insufficient_pool", None);
    assert_budget_error(&error, "acme", "tokens", 901);
    assert_eq!(error["available"], 900);
    assert_error(
        &server.get("/v1/accounts/acme/a"),
        404,
        "account_not_found",
        None,
    );

    server.put_ok("acme/a", json!({"limits": {"tokens": 600}}));
    let answer = server.put("/v1/accounts/acme/b", json!({"limits": {"tokens": 301}}));
    let error = assert_error(&answer, 409, "insufficient_pool", None);
    assert_budget_error(&error, "acme", "tokens", 301);
    assert_eq!(error["available"], 300);
    server.put_ok("acme/b", json!({"limits": {"tokens": 300}}));
    assert_eq!(server.status("acme")["pool"]["tokens"], 100);
    // Raising a child's limit counts only the growth against the pool.
    let answer = server.put("/v1/accounts/acme/a", json!({"limits": {"tokens": 601}}));
    assert_error(&answer, 409, "insufficient_pool", None);
    assert_eq!(server.status("acme/a")["limits"]["tokens"], 600);
}

#[test]
fn unknown_accounts_are_404() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    for answer in [
        server.get("/v1/accounts/nope"),
        server.get("/v1/accounts/acme/nope"),
        server.delete("/v1/accounts/nope"),
        server.get("/v1/accounts?prefix=nope"),
        server.post(
            "/v1/accounts/nope:allocate",
            json!({"strategy": "equal", "children": [{"name": "a"}]}),
        ),
        server.post(
            "/v1/usage",
            json!({"account": "nope", "usage": {"tokens": 1}}),
        ),
        server.post(
            "/v1/reservations",
            json!({"account": "nope", "amount": {"tokens": 1}}),
        ),
    ] {
        assert_error(&answer, 404, "account_not_found", None);
    }
    for path in [
        "/v1/reservations/rsv_999999:settle",
        "/v1/reservations/rsv_999999:void",
        "/v1/reservations/rsv_x:void",
        "/v1/reservations/nope:settle",
    ] {
        assert_error(
            &server.post(path, json!({})),
            404,
            "reservation_not_found",
            None,
        );
    }
}

fn listed_paths(answer: &(u16, Value)) -> Vec<String> {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| account["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn listing_by_prefix_and_depth_is_ordered_by_path() {
    let (server, _dir) = start();
    // Created out of order, so the order of the answer is the server's doing.
    for path in [
        "zeta",
        "acme",
        "acme/research",
        "acme/ops",
        "acme/research/wf-2",
        "acme/research/wf-1",
        "acme/research/wf-1/worker-1",
        "zeta/b",
    ] {
        server.put_ok(path, json!({}));
    }
    let list = |query: &str| listed_paths(&server.get(&format!("/v1/accounts{query}")));
    assert_eq!(
        list("?prefix=acme/research&depth=2"),
        [
            "acme/research",
            "acme/research/wf-1",
            "acme/research/wf-1/worker-1",
            "acme/research/wf-2"
        ]
    );
    assert_eq!(
        list("?prefix=acme/research"),
        ["acme/research", "acme/research/wf-1", "acme/research/wf-2"]
    );
    assert_eq!(list("?prefix=acme&depth=0"), ["acme"]);
    assert_eq!(
        list(""),
        ["acme", "acme/ops", "acme/research", "zeta", "zeta/b"]
    );
    assert_eq!(list("?depth=0"), ["acme", "zeta"]);
    assert_eq!(
        list("?prefix=acme%2Fresearch%2Fwf-1"),
        ["acme/research/wf-1", "acme/research/wf-1/worker-1"]
    );
    let statuses = server.get("/v1/accounts?prefix=acme/ops").1;
    assert_eq!(statuses["accounts"][0], server.status("acme/ops"));

    assert_error(
        &server.get("/v1/accounts?depth=9"),
        400,
        "invalid_field",
        Some("depth"),
    );
    assert_error(
        &server.get("/v1/accounts?depth=-1"),
        400,
        "invalid_field",
        Some("depth"),
    );
    assert_error(
        &server.get("/v1/accounts?prefx=acme"),
        400,
        "unknown_field",
        Some("prefx"),
    );
    assert_error(
        &server.get("/v1/accounts?prefix=Acme"),
        400,
        "invalid_path",
        Some("prefix"),
    );
}

#[test]
fn delete_returns_a_leaf_limit_to_the_parent_pool() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    server.put_ok("acme/a", json!({"limits": {"tokens": 400}}));
    server.put_ok("acme/a/x", json!({"limits": {"tokens": 100}}));
    server.usage_ok("acme/a/x", json!({"tokens": 30}));
    assert_eq!(server.status("acme")["pool"]["tokens"], 600);

    assert_error(
        &server.delete("/v1/accounts/acme/a"),
        409,
        "has_children",
        None,
    );
    assert_eq!(server.status("acme/a")["children"], json!(["x"]));

    let (status, closed) = server.delete("/v1/accounts/acme/a/x");
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed, json!({"path": "acme/a/x", "closed": true}));
    assert_error(
        &server.get("/v1/accounts/acme/a/x"),
        404,
        "account_not_found",
        None,
    );
    let parent = server.status("acme/a");
    assert_eq!(parent["pool"]["tokens"], 400, "x's limit is back: {parent}");
    assert_eq!(parent["children"], json!([]));
    assert_eq!(parent["consumed"]["tokens"], 30, "spent budget stays spent");

    // An open reservation keeps an account open.
    let hold = server.reserve_ok(json!({"account": "acme/a", "amount": {"tokens": 10}}));
    assert_error(
        &server.delete("/v1/accounts/acme/a"),
        409,
        "open_reservations",
        None,
    );
    let (status, _) = server.post(
        &format!("/v1/reservations/{}:void", hold["id"].as_str().unwrap()),
        json!({}),
    );
    assert_eq!(status, 200);
    let (status, _) = server.delete("/v1/accounts/acme/a");
    assert_eq!(status, 200);
    assert_eq!(server.status("acme")["pool"]["tokens"], 1000);
    assert_eq!(server.status("acme")["children"], json!([]));
}

#[test]
fn allocate_sets_the_children_limits() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}, "reserve": 0.1}));
    server.put_ok(
        "acme/research",
        json!({"limits": {"tokens": 800}, "reserve": 0.0}),
    );
    let allocate = |body: Value| server.post("/v1/accounts/acme/research:allocate", body);
    let (status, answer) = allocate(json!({
        "strategy": "proportional", "total": {"tokens": 600},
        "children": [{"name": "worker-1", "weight": 2.0}, {"name": "worker-2"}]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"allocations": [
                  {"path": "acme/research/worker-1", "limits": {"tokens": 400}},
                  {"path": "acme/research/worker-2", "limits": {"tokens": 200}}],
               "pool": {"tokens": 200}})
    );
    assert_eq!(
        server.status("acme/research/worker-1")["limits"]["tokens"],
        400
    );

    // Limits are set, not added to; without a total the whole pool (less the reserve) is shared.
    server.usage_ok("acme/research/worker-1", json!({"tokens": 50}));
    let (status, answer) = allocate(json!({
        "strategy": "equal", "children": [{"name": "worker-1"}, {"name": "worker-2"}]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["allocations"][0]["limits"]["tokens"], 400);
    assert_eq!(answer["allocations"][1]["limits"]["tokens"], 400);
    assert_eq!(answer["pool"]["tokens"], 0);
    let worker = server.status("acme/research/worker-1");
    assert_eq!(worker["consumed"]["tokens"], 50, "spent budget stays spent");

    let error = assert_error(
        &allocate(json!({"strategy": "equal", "total": {"tokens": 801},
                         "children": [{"name": "worker-1"}]})),
        409,
        "insufficient_pool",
        None,
    );
    assert_budget_error(&error, "acme/research", "tokens", 801);
    assert_error(
        &allocate(json!({"strategy": "lottery", "children": [{"name": "a"}]})),
        400,
        "invalid_field",
        Some("strategy"),
    );
    assert_error(
        &allocate(json!({"strategy": "equal", "total": {"tokens": -5}, "children": []})),
        400,
        "invalid_amount",
        Some("total.tokens"),
    );
    assert_error(
        &allocate(json!({"strategy": "equal", "children": [{"name": "a", "wieght": 1}]})),
        400,
        "unknown_field",
        Some("children[0].wieght"),
    );
    assert_error(
        &allocate(json!({"strategy": "equal", "children": [{"name": "Bad"}]})),
        400,
        "invalid_path",
        Some("children[0].name"),
    );
    assert_eq!(
        server.status("acme/research")["children"],
        json!(["worker-1", "worker-2"]),
        "failed allocations create nothing"
    );
}
