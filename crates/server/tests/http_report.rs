//! Reports over HTTP: `GET /v1/accounts/{path}:report` as JSON, Markdown and HTML, its errors,
//! and its scope check.

mod common;

use std::time::Duration;

use common::{AGENT_TOKEN, OPERATOR_TOKEN, TestServer, assert_error, config_with_tokens, start};
use serde_json::{Value, json};

/// A GET whose answer may be text: the status, the content type and the body.
fn get_text(server: &TestServer, path: &str, token: Option<&str>) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut request = agent.get(format!("{}{}", server.base, path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut response = request
        .call()
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .expect("a readable body");
    (response.status().as_u16(), content_type, body)
}

/// A workflow whose implementers used nearly all of their limits and whose tester used little.
fn team(server: &TestServer) {
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1_000_000, "cost_micros": 50_000_000}}),
    );
    server.put_ok(
        "acme/research",
        json!({"limits": {"tokens": 600_000, "cost_micros": 30_000_000}, "kind": "workflow"}),
    );
    for (name, kind) in [
        ("impl-1", "implementer"),
        ("impl-2", "implementer"),
        ("tester-1", "tester"),
    ] {
        server.put_ok(
            &format!("acme/research/{name}"),
            json!({"limits": {"tokens": 100_000}, "kind": kind}),
        );
    }
    server.usage_ok("acme/research/impl-1", json!({"tokens": 96_000}));
    server.usage_ok("acme/research/impl-2", json!({"tokens": 104_000}));
    server.usage_ok("acme/research/tester-1", json!({"tokens": 31_000}));
}

#[test]
fn the_json_report_covers_the_account_and_its_children() {
    let (server, _dir) = start();
    team(&server);
    let (status, report) = server.get("/v1/accounts/acme/research:report");
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["path"], "acme/research");
    let accounts: Vec<(&str, &str)> = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| {
            (
                account["path"].as_str().unwrap(),
                account["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            ("acme/research", "subject"),
            ("acme/research/impl-1", "child"),
            ("acme/research/impl-2", "child"),
            ("acme/research/tester-1", "child"),
        ]
    );
    let impl_2 = &report["accounts"][2]["dimensions"][0];
    assert_eq!(
        (&impl_2["dimension"], &impl_2["consumed"], &impl_2["limit"]),
        (&json!("tokens"), &json!(104_000), &json!(100_000))
    );
    assert_eq!(impl_2["utilization"], 1.04);
    let fairness = &report["fairness"][0];
    assert_eq!(
        (&fairness["dimension"], &fairness["children"]),
        (&json!("tokens"), &json!(3))
    );
    let recommendation = &report["recommendations"][0];
    assert_eq!(recommendation["kind"], "move", "{recommendation}");
    assert_eq!(recommendation["from"][0]["account"], "tester-1");
    assert_eq!(
        recommendation["amount"], 34_500,
        "half of what the tester left unused"
    );
    let text = recommendation["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "impl-1 and impl-2 used 96-104% of their tokens limits while tester-1 used 31%"
        ),
        "{text}"
    );
    let levels = report["accounts"][1]["time_per_level_ms"]
        .as_object()
        .expect("time per level");
    assert_eq!(levels.len(), 5);
    assert!(report["chart"].is_object(), "{}", report["chart"]);
    assert_eq!(
        report["chart"]["limit"], 600_000,
        "the chart is of the subject's main dimension: {}",
        report["chart"]
    );
}

#[test]
fn markdown_and_html_have_their_content_types() {
    let (server, _dir) = start();
    team(&server);
    let (status, content_type, body) = get_text(
        &server,
        "/v1/accounts/acme/research:report?format=markdown",
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/markdown; charset=utf-8");
    assert!(
        body.starts_with("# Budget report: acme/research\n"),
        "{body}"
    );
    for section in [
        "## Utilization",
        "## Fairness",
        "## Waste",
        "## Recommendations",
    ] {
        assert!(body.contains(section), "{section} missing:\n{body}");
    }
    assert!(body.contains("| impl-2 "), "{body}");

    let (status, content_type, page) = get_text(
        &server,
        "/v1/accounts/acme/research:report?format=html",
        None,
    );
    assert_eq!(status, 200, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg"), "charts are inline SVG");
    assert!(!page.contains("<script"));

    let (status, content_type, body) = get_text(
        &server,
        "/v1/accounts/acme/research:report?format=json",
        None,
    );
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let value: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(value["path"], "acme/research");
}

#[test]
fn bad_formats_unknown_accounts_and_methods_are_refused() {
    let (server, _dir) = start();
    team(&server);
    let answer = server.get("/v1/accounts/acme/research:report?format=pdf");
    let error = assert_error(&answer, 400, "invalid_field", Some("format"));
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("json, markdown, html"),
        "{error}"
    );
    assert_error(
        &server.get("/v1/accounts/acme/research:report?fromat=html"),
        400,
        "unknown_field",
        Some("fromat"),
    );
    let answer = server.get("/v1/accounts/acme/nowhere:report");
    let error = assert_error(&answer, 404, "account_not_found", None);
    assert_eq!(error["message"], "account acme/nowhere not found");
    assert_error(
        &server.get("/v1/accounts/acme/research:reprot"),
        404,
        "not_found",
        None,
    );
}

#[test]
fn a_report_needs_read_access_under_the_tokens_scope() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = common::start_with(config_with_tokens(dir.path()));
    server.token = Some(common::ADMIN_TOKEN.to_string());
    team(&server);
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 1_000}}));
    let report = |token: &str, path: &str| {
        server.call_as(
            Some(token),
            "GET",
            &format!("/v1/accounts/{path}:report"),
            None,
        )
    };
    assert_eq!(report(OPERATOR_TOKEN, "acme/research").0, 200);
    assert_eq!(report(AGENT_TOKEN, "acme/research/wf-1").0, 200);
    assert_error(
        &report(AGENT_TOKEN, "acme/research"),
        403,
        "forbidden",
        None,
    );
    assert_error(&report(OPERATOR_TOKEN, "acme"), 403, "forbidden", None);
    let (status, _) = server.call_as(None, "GET", "/v1/accounts/acme:report", None);
    assert_eq!(status, 401);
}

#[test]
fn the_report_is_in_the_openapi_document() {
    let (server, _dir) = start();
    let (status, doc) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let operation = &doc["paths"]["/v1/accounts/{path}:report"]["get"];
    assert!(operation.is_object(), "{}", doc["paths"]);
    let content = &operation["responses"]["200"]["content"];
    for media_type in ["application/json", "text/markdown", "text/html"] {
        assert!(content[media_type].is_object(), "{media_type}: {content}");
    }
    assert!(doc["components"]["schemas"]["ReportOut"].is_object());
}
