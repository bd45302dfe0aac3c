//! Tokens over HTTP: 401 without a known token, 403 outside a token's role or scope, and the
//! refusal to serve anonymous requests off loopback.

mod common;

use common::{
    ADMIN_TOKEN, AGENT_TOKEN, OPERATOR_TOKEN, TestServer, assert_error, config_with_tokens,
};
use serde_json::{Value, json};

/// A server with tokens: the admin made `acme/research/wf-1` (and a sibling) with budgets.
fn server_with_tokens() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = common::start_with(config_with_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({"limits": {"tokens": 10_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 5_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 1_000}}));
    server.put_ok("acme/research/wf-2", json!({"limits": {"tokens": 1_000}}));
    server.put_ok("acme/ops", json!({}));
    (server, dir)
}

fn consumed_tokens(server: &TestServer, account_path: &str) -> u64 {
    let status = server.status(account_path);
    status["consumed"]
        .get("tokens")
        .map_or(0, |tokens| tokens.as_u64().unwrap())
}

fn listed(answer: (u16, Value)) -> Vec<String> {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_missing_or_unknown_token_is_401() {
    let (server, _dir) = server_with_tokens();
    let usage = json!({"account": "acme/research/wf-1", "usage": {"tokens": 1}});
    for token in [None, Some("not-a-known-token-at-all")] {
        let requests = [
            server.call_as(token, "GET", "/v1/accounts/acme", None),
            server.call_as(token, "GET", "/v1/accounts", None),
            server.call_as(token, "PUT", "/v1/accounts/acme", Some(json!({}))),
            server.call_as(token, "DELETE", "/v1/accounts/acme/ops", None),
            server.call_as(token, "POST", "/v1/usage", Some(usage.clone())),
            server.call_as(
                token,
                "POST",
                "/v1/usage:batch",
                Some(json!({"reports": [usage.clone()]})),
            ),
            server.call_as(
                token,
                "POST",
                "/v1/reservations",
                Some(json!({"account": "acme", "amount": {"tokens": 1}})),
            ),
            server.call_as(token, "POST", "/v1/reservations/rsv_1:void", None),
        ];
        for answer in requests {
            assert_error(&answer, 401, "unauthorized", None);
        }
    }
    // A header that is not a bearer token is refused too.
    for authorization in [
        format!("Basic {ADMIN_TOKEN}"),
        ADMIN_TOKEN.to_string(),
        "Bearer".to_string(),
    ] {
        let answer =
            server.raw_authorized(Some(&authorization), "GET", "/v1/accounts/acme", Vec::new());
        assert_error(&answer, 401, "unauthorized", None);
    }
    assert_eq!(consumed_tokens(&server, "acme"), 0);
    // The operations endpoints need no token.
    assert_eq!(server.call_as(None, "GET", "/healthz", None).0, 200);
    assert_eq!(server.call_as(None, "GET", "/readyz", None).0, 200);
    assert_eq!(server.call_as(None, "GET", "/openapi.json", None).0, 200);
}

#[test]
fn an_operator_manages_and_reads_only_under_its_scope() {
    let (server, _dir) = server_with_tokens();
    let op = Some(OPERATOR_TOKEN);
    let (status, answer) = server.call_as(
        op,
        "PUT",
        "/v1/accounts/acme/research/wf-3",
        Some(json!({"limits": {"tokens": 100}})),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call_as(
        op,
        "POST",
        "/v1/accounts/acme/research:allocate",
        Some(json!({"strategy": "equal", "total": {"tokens": 300},
                    "children": [{"name": "wf-1"}, {"name": "wf-2"}]})),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, _) = server.call_as(op, "DELETE", "/v1/accounts/acme/research/wf-3", None);
    assert_eq!(status, 200);
    let (status, _) = server.call_as(op, "GET", "/v1/accounts/acme/research", None);
    assert_eq!(status, 200);

    for answer in [
        server.call_as(
            op,
            "PUT",
            "/v1/accounts/acme/ops",
            Some(json!({"weight": 2.0})),
        ),
        server.call_as(op, "PUT", "/v1/accounts/acme", Some(json!({}))),
        server.call_as(op, "DELETE", "/v1/accounts/acme/ops", None),
        server.call_as(
            op,
            "POST",
            "/v1/accounts/acme:allocate",
            Some(json!({"strategy": "equal", "children": [{"name": "x"}]})),
        ),
        server.call_as(op, "GET", "/v1/accounts/acme", None),
        // A sibling that shares the scope's text is still outside it.
        server.call_as(op, "PUT", "/v1/accounts/acme/research-2", Some(json!({}))),
        server.call_as(op, "GET", "/v1/accounts?prefix=acme", None),
        server.call_as(
            op,
            "POST",
            "/v1/usage",
            Some(json!({"account": "acme/ops", "usage": {"tokens": 1}})),
        ),
    ] {
        assert_error(&answer, 403, "forbidden", None);
    }
    assert_eq!(server.status("acme/ops")["weight"], 1.0);
    assert!(server.get("/v1/accounts/acme/research-2").0 == 404);
    // A listing without a prefix shows only what the token may read.
    assert_eq!(
        listed(server.call_as(op, "GET", "/v1/accounts?depth=3", None)),
        ["acme/research", "acme/research/wf-1", "acme/research/wf-2"]
    );
    assert_eq!(
        listed(server.call_as(Some(ADMIN_TOKEN), "GET", "/v1/accounts", None)),
        ["acme", "acme/ops", "acme/research"]
    );
}

#[test]
fn an_agent_spends_under_its_scope_and_cannot_manage() {
    let (server, _dir) = server_with_tokens();
    let agent = Some(AGENT_TOKEN);
    let before = server.status("acme/research/wf-1");
    for answer in [
        server.call_as(
            agent,
            "PUT",
            "/v1/accounts/acme/research/wf-1",
            Some(json!({"limits": {"tokens": 1}})),
        ),
        server.call_as(
            agent,
            "PUT",
            "/v1/accounts/acme/research/wf-1/x",
            Some(json!({})),
        ),
        server.call_as(
            agent,
            "POST",
            "/v1/accounts/acme/research/wf-1:allocate",
            Some(json!({"strategy": "equal", "children": [{"name": "x"}]})),
        ),
        server.call_as(agent, "DELETE", "/v1/accounts/acme/research/wf-1", None),
        server.call_as(agent, "GET", "/v1/accounts/acme/research/wf-2", None),
        server.call_as(
            agent,
            "POST",
            "/v1/usage",
            Some(json!({"account": "acme/research/wf-2", "usage": {"tokens": 1}})),
        ),
        server.call_as(
            agent,
            "POST",
            "/v1/reservations",
            Some(json!({"account": "acme/research", "amount": {"tokens": 1}})),
        ),
    ] {
        assert_error(&answer, 403, "forbidden", None);
    }
    assert_eq!(server.status("acme/research/wf-1"), before);
    assert_eq!(consumed_tokens(&server, "acme/research"), 0);

    // Reporting, reserving, settling and reading under the scope work.
    let usage = json!({"account": "acme/research/wf-1", "usage": {"tokens": 10}});
    let (status, answer) = server.call_as(agent, "POST", "/v1/usage", Some(usage.clone()));
    assert_eq!(status, 200, "{answer}");
    let reserve = json!({"account": "acme/research/wf-1", "amount": {"tokens": 5}});
    let (status, hold) = server.call_as(agent, "POST", "/v1/reservations", Some(reserve));
    assert_eq!(status, 201, "{hold}");
    let id = hold["id"].as_str().unwrap();
    let settle = format!("/v1/reservations/{id}:settle");
    let (status, answer) = server.call_as(
        agent,
        "POST",
        &settle,
        Some(json!({"usage": {"tokens": 5}})),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, status_body) =
        server.call_as(agent, "GET", "/v1/accounts/acme/research/wf-1", None);
    assert_eq!(status, 200);
    assert_eq!(status_body["consumed"]["tokens"], 15);

    // A reservation held elsewhere is out of reach, whatever its id.
    let other =
        server.reserve_ok(json!({"account": "acme/research/wf-2", "amount": {"tokens": 5}}));
    let other_id = other["id"].as_str().unwrap();
    for method in ["settle", "void"] {
        let path = format!("/v1/reservations/{other_id}:{method}");
        let answer = server.call_as(agent, "POST", &path, Some(json!({})));
        assert_error(&answer, 403, "forbidden", None);
    }
    assert_eq!(server.status("acme/research/wf-2")["reserved"]["tokens"], 5);

    // In a batch, the out-of-scope report alone is refused.
    let batch = json!({"reports": [usage, {"account": "acme/ops", "usage": {"tokens": 1}}, usage]});
    let (status, answer) = server.call_as(agent, "POST", "/v1/usage:batch", Some(batch));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["duplicate"], false, "{answer}");
    common::assert_error_body(&answer["results"][1], "forbidden", None);
    assert_eq!(answer["results"][2]["duplicate"], false, "{answer}");
    assert_eq!(
        server.status("acme/research/wf-1")["consumed"]["tokens"],
        35
    );
    assert_eq!(consumed_tokens(&server, "acme/ops"), 0);
}

#[test]
fn without_tokens_the_server_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        purser_server::run(common::config(dir.path()), listener, async {}).await
    });
    match result {
        Err(purser_server::ServerError::OpenListener(address)) => {
            assert!(address.ip().is_unspecified(), "{address}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        !dir.path().join("journal.sqlite").exists(),
        "the refusal comes before the store is opened"
    );
}

#[test]
fn with_tokens_the_server_accepts_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
        // Shut down at once: starting without an error is what is checked.
        purser_server::run(config_with_tokens(dir.path()), listener, async {}).await
    });
    assert!(result.is_ok(), "{result:?}");
}
