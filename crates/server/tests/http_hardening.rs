//! Regressions of the defects found by trying to break the server as an operator and an
//! attacker would (the hardening issue). Each test names the defect it keeps fixed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use purser_server::auth::Role;
use purser_server::config::TokenConfig;
use serde_json::{Value, json};

const OPS_TOKEN: &str = "ops-research-token-0123456789";

/// Tokens with names: an admin, an operator of `acme/research`, an agent of its `wf-1`.
fn named_tokens(data_dir: &std::path::Path) -> purser_server::Config {
    let token = |name: &str, token: &str, role, scope: &str| TokenConfig {
        token: token.into(),
        role,
        scope: scope.into(),
        name: Some(name.into()),
    };
    purser_server::Config {
        tokens: vec![
            token("platform-admin", ADMIN_TOKEN, Role::Admin, ""),
            token("research-ops", OPS_TOKEN, Role::Operator, "acme/research"),
            token(
                "wf-1-agents",
                AGENT_TOKEN,
                Role::Agent,
                "acme/research/wf-1",
            ),
        ],
        ..config(data_dir)
    }
}

/// Sends `request` as raw bytes and answers the status and the body parsed as JSON.
fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let value = serde_json::from_str(body).unwrap_or_else(|_| panic!("non-JSON body: {text:?}"));
    (status, value)
}

#[test]
fn one_report_of_2_pow_64_tokens_does_not_poison_the_organisation() {
    // Defect 1: an agent reported 18446744073709551615 tokens and got 200; every later report
    // anywhere under the org answered 400 amount_overflow, also after a restart.
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(named_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({"limits": {"tokens": 1_000_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 500_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("acme/research/wf-2", json!({"limits": {"tokens": 100_000}}));
    for huge in [u64::MAX, 1 << 63, 1_000_000_000_001] {
        let answer = server.call_as(
            Some(AGENT_TOKEN),
            "POST",
            "/v1/usage",
            Some(json!({"account": "acme/research/wf-1", "usage": {"tokens": huge}})),
        );
        assert_error(&answer, 400, "amount_too_large", Some("usage.tokens"));
        let hold = server.call_as(
            Some(AGENT_TOKEN),
            "POST",
            "/v1/reservations",
            Some(json!({"account": "acme/research/wf-1", "amount": {"gpu": huge}})),
        );
        assert_error(&hold, 400, "amount_too_large", Some("amount.gpu"));
    }
    // The most one report may carry is recorded (the money is gone): the org goes black, as
    // usage beyond its limit should make it, and every later report is still counted.
    let (status, answer) = server.call_as(
        Some(AGENT_TOKEN),
        "POST",
        "/v1/usage",
        Some(json!({"account": "acme/research/wf-1", "usage": {"tokens": 1_000_000_000_000u64}})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.status("acme")["level"], "black");
    let dir_path = dir.path().to_path_buf();
    server.stop().unwrap();
    let mut server = start_with(named_tokens(&dir_path));
    server.token = Some(ADMIN_TOKEN.into());
    server.usage_ok("acme/research/wf-2", json!({"tokens": 10}));
    server.put_ok("acme/research/wf-3", json!({}));
    server.usage_ok("acme/research/wf-3", json!({"tokens": 5}));
    assert_eq!(
        server.status("acme")["consumed"]["tokens"],
        1_000_000_000_015u64
    );
}

#[test]
fn the_optimizer_does_not_undo_a_stop_on_a_forecast_without_confidence() {
    // Defect 3: one report at 96 % of a child's limit, and the next pass raised the limit from
    // 100,000 to 900,000 on a forecast of confidence 0.00, taking the child from black to green.
    let (server, _dir) = start();
    server.put_ok("org", json!({"limits": {"tokens": 1_000_000}}));
    server.put_ok("org/a", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("org/b", json!({"limits": {"tokens": 100_000}}));
    server.usage_ok("org/a", json!({"tokens": 96_000}));
    assert_eq!(server.status("org/a")["level"], "black");
    let (status, answer) = server.post("/v1/optimizer:run", json!({}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["moves"], json!([]), "{answer}");
    let account = server.status("org/a");
    assert_eq!(account["limits"]["tokens"], 100_000);
    assert_eq!(account["level"], "black");
}

#[test]
fn an_operator_neither_grows_nor_loosens_its_own_scope_root_and_the_audit_names_who_did_what() {
    // Defect 4: an operator scoped to acme/research raised acme/research out of acme's pool and
    // set its stop to 1.0; the audit log said `actor: "api"` and `{"limits":{}}`.
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(named_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({"limits": {"tokens": 10_000_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 4_000_000}}));
    let as_ops = |method: &str, path: &str, body: Value| {
        server.call_as(Some(OPS_TOKEN), method, path, Some(body))
    };
    for body in [
        json!({"limits": {"tokens": 8_000_000}}),
        json!({"thresholds": {"stop": 1.0}}),
        json!({"weight": 5.0}),
    ] {
        let answer = as_ops("PUT", "/v1/accounts/acme/research", body);
        assert_error(&answer, 403, "forbidden", None);
    }
    assert_error(
        &server.call_as(
            Some(OPS_TOKEN),
            "DELETE",
            "/v1/accounts/acme/research",
            None,
        ),
        403,
        "forbidden",
        None,
    );
    let research = server.status("acme/research");
    assert_eq!(research["limits"]["tokens"], 4_000_000);
    assert_eq!(research["thresholds"]["stop"], 0.95);
    // Below its root, the operator manages as before.
    let (status, answer) = as_ops(
        "PUT",
        "/v1/accounts/acme/research/wf-1",
        json!({"limits": {"tokens": 1_000_000}, "thresholds": {"stop": 0.9, "degrade": 0.85}}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = as_ops(
        "POST",
        "/v1/accounts/acme/research:allocate",
        json!({"strategy": "equal", "total": {"tokens": 2_000_000}, "children": [{"name": "wf-1"}, {"name": "wf-2"}]}),
    );
    assert_eq!(status, 200, "{answer}");
    server.put_ok("acme/research", json!({"thresholds": {"stop": 0.97}}));

    let check_audit = |server: &TestServer| {
        let (_, audit) = server.get("/v1/audit?prefix=acme/research");
        let entries = audit["events"].as_array().unwrap();
        let changes_of = |account: &str, by: &str| -> Vec<Value> {
            entries
                .iter()
                .filter(|entry| {
                    entry["type"] == "limit_change"
                        && entry["account"] == account
                        && entry["actor"] == by
                })
                .flat_map(|entry| entry["data"]["changes"].as_array().unwrap().clone())
                .collect()
        };
        let stop = changes_of("acme/research", "platform-admin");
        assert!(
            stop.contains(&json!({"field": "thresholds.stop", "from": "0.95", "to": "0.97"})),
            "{stop:?}"
        );
        let wf = changes_of("acme/research/wf-1", "research-ops");
        assert!(
            wf.contains(&json!({"field": "limits.tokens", "from": null, "to": "1000000"})),
            "{wf:?}"
        );
        assert!(
            wf.contains(&json!({"field": "thresholds.stop", "from": "0.95", "to": "0.9"})),
            "{wf:?}"
        );
        let allocated = changes_of("acme/research/wf-2", "research-ops");
        assert!(
            allocated.contains(&json!({"field": "limits.tokens", "from": null, "to": "1000000"})),
            "{allocated:?}"
        );
        let reason = entries
            .iter()
            .rfind(|entry| {
                entry["account"] == "acme/research" && entry["actor"] == "platform-admin"
            })
            .map(|entry| entry["reason"].as_str().unwrap().to_string())
            .unwrap();
        assert!(
            reason.contains("by platform-admin: thresholds.stop 0.95 -> 0.97"),
            "{reason}"
        );
    };
    check_audit(&server);
    // The names and changes are journaled: a restart rebuilds the same audit log.
    let dir_path = dir.path().to_path_buf();
    server.stop().unwrap();
    let mut server = start_with(named_tokens(&dir_path));
    server.token = Some(ADMIN_TOKEN.into());
    check_audit(&server);
}

#[test]
fn json_bodies_are_read_strictly() {
    // Defect 5: trailing bytes, two objects, duplicate keys inside `usage` and `limits`, and a
    // text/plain body were all accepted (the last duplicate winning).
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1000}}));
    let usage = r#"{"account":"acme","usage":{"tokens":1}}"#;
    for (body, code, field) in [
        (format!("{usage}garbage"), "invalid_json", None),
        (format!("{usage}{usage}"), "invalid_json", None),
        (format!("{usage} \n "), "", None),
        (
            r#"{"account":"acme","usage":{"tokens":1,"tokens":7}}"#.to_string(),
            "duplicate_field",
            Some("usage.tokens"),
        ),
        (
            r#"{"account":"acme","account":"acme","usage":{"tokens":1}}"#.to_string(),
            "duplicate_field",
            Some("account"),
        ),
    ] {
        let answer = server.raw("POST", "/v1/usage", body.clone().into_bytes());
        if code.is_empty() {
            assert_eq!(answer.0, 200, "{body}: {}", answer.1);
        } else {
            assert_error(&answer, 400, code, field);
        }
    }
    let answer = server.raw(
        "PUT",
        "/v1/accounts/acme/x",
        br#"{"limits":{"tokens":10,"tokens":900}}"#.to_vec(),
    );
    assert_error(&answer, 400, "duplicate_field", Some("limits.tokens"));
    let answer = server.raw(
        "PUT",
        "/v1/accounts/acme/x",
        br#"{"labels":{"team":"a","team":"b"}}"#.to_vec(),
    );
    assert_error(&answer, 400, "duplicate_field", Some("labels.team"));
    let batch = format!(r#"{{"reports":[{usage}]}}{usage}"#);
    let answer = server.raw("POST", "/v1/usage:batch", batch.into_bytes());
    assert_error(&answer, 400, "invalid_json", None);
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let header = if content_type.is_empty() {
            String::new()
        } else {
            format!("content-type: {content_type}\r\n")
        };
        let request = format!(
            "POST /v1/usage HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{header}content-length: {}\r\n\r\n{usage}",
            usage.len()
        );
        let answer = raw_http(server.addr, request.as_bytes());
        assert_error(&answer, 415, "unsupported_media_type", Some("Content-Type"));
    }
    let request = format!(
        "POST /v1/usage HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n{usage}",
        usage.len()
    );
    assert_eq!(raw_http(server.addr, request.as_bytes()).0, 200);
    // Only the two well-formed reports counted.
    assert_eq!(server.status("acme")["consumed"]["tokens"], 2);
    assert!(server.get("/v1/accounts/acme/x").0 == 404);
}

#[test]
fn the_protocols_own_refusals_have_the_error_shape() {
    // Defect 6: 431 and duplicate-Content-Length 400 answers were bare.
    let (server, _dir) = start();
    let big = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_error(
        &raw_http(server.addr, big.as_bytes()),
        431,
        "headers_too_large",
        None,
    );
    let many: String = (0..150).map(|idx| format!("x-h{idx}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    assert_error(
        &raw_http(server.addr, many.as_bytes()),
        431,
        "headers_too_large",
        None,
    );
    let twice = b"POST /v1/usage HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}x";
    assert_error(&raw_http(server.addr, twice), 400, "bad_request", None);
    let nonsense = b"G@T /healthz HTTP/1.1\r\n\r\n";
    assert_error(&raw_http(server.addr, nonsense), 400, "bad_request", None);
}

#[test]
fn a_huge_content_length_is_refused_before_the_body() {
    // Defect 2: a Content-Length of 100 MiB was not refused up front; the server waited.
    let (server, _dir) = start();
    let started = Instant::now();
    let head = b"POST /v1/usage HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n";
    assert_error(&raw_http(server.addr, head), 413, "body_too_large", None);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn smaller_defects_stay_fixed() {
    // Defect 6: the Bearer scheme in any case; a trailing slash refused in a URL path as in a
    // body; a bad `after` cursor is 400, not 404.
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(named_tokens(dir.path()));
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let authorization = format!("{scheme} {ADMIN_TOKEN}");
        let (status, answer) =
            server.raw_authorized(Some(&authorization), "GET", "/v1/accounts", Vec::new());
        assert_eq!(status, 200, "{scheme}: {answer}");
    }
    let mut server = server;
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({}));
    assert_error(
        &server.get("/v1/accounts/acme/"),
        400,
        "invalid_path",
        Some("path"),
    );
    assert_error(
        &server.put("/v1/accounts/acme/", json!({})),
        400,
        "invalid_path",
        Some("path"),
    );
    for after in ["", "garbage", "dag_", "dag_x"] {
        let answer = server.get(&format!("/v1/dags?after={after}"));
        assert_error(&answer, 400, "invalid_field", Some("after"));
    }
}
