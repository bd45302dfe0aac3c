//! What a well-behaved agent needs from the answers: where on its path the budget is tightest
//! (in the body and in `Purser-Remaining-*` headers), budget errors that say the limit, what was
//! spent, when the period renews and how long to wait, and `GET /v1/me`.

mod common;

use common::{ADMIN_TOKEN, AGENT_TOKEN, MANUAL_START_MS, start_manual, start_with};
use serde_json::{Value, json};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn tightest<'a>(answer: &'a Value, dimension: &str) -> &'a Value {
    answer["tightest"]
        .as_array()
        .unwrap_or_else(|| panic!("no tightest in {answer}"))
        .iter()
        .find(|tight| tight["dimension"] == dimension)
        .unwrap_or_else(|| panic!("no {dimension} in {answer}"))
}

#[test]
fn answers_name_the_tightest_account_on_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(common::config(dir.path()));
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 10_000, "cost_micros": 50_000}}),
    );
    server.put_ok("acme/wf", json!({"limits": {"tokens": 4_000}}));
    server.put_ok("acme/wf/agent", json!({"limits": {"cost_micros": 1_000}}));
    let (status, headers, answer) = server.post_full(
        "/v1/usage",
        json!({"account": "acme/wf/agent", "usage": {"tokens": 1_000, "cost_micros": 300}}),
    );
    assert_eq!(status, 200, "{answer}");
    // tokens: acme has 9,000 left, acme/wf 3,000; cost: the agent 700, acme 49,700.
    assert_eq!(
        tightest(&answer, "tokens"),
        &json!({"dimension": "tokens", "account": "acme/wf", "remaining": 3_000})
    );
    assert_eq!(
        tightest(&answer, "cost_micros"),
        &json!({"dimension": "cost_micros", "account": "acme/wf/agent", "remaining": 700})
    );
    assert_eq!(
        answer["remaining"]["tokens"], 3_000,
        "the same least as remaining"
    );
    assert_eq!(header(&headers, "purser-remaining-tokens"), Some("3000"));
    assert_eq!(
        header(&headers, "purser-remaining-cost_micros"),
        Some("700")
    );

    let (status, headers, hold) = server.post_full(
        "/v1/reservations",
        json!({"account": "acme/wf/agent", "amount": {"tokens": 500}}),
    );
    assert_eq!(status, 201, "{hold}");
    assert_eq!(
        tightest(&hold, "tokens")["remaining"],
        2_500,
        "after the hold"
    );
    assert_eq!(header(&headers, "purser-remaining-tokens"), Some("2500"));
    let id = hold["id"].as_str().unwrap();
    let (status, headers, settled) = server.post_full(
        &format!("/v1/reservations/{id}:settle"),
        json!({"usage": {"tokens": 200}}),
    );
    assert_eq!(status, 200, "{settled}");
    assert_eq!(tightest(&settled, "tokens")["remaining"], 2_800);
    assert_eq!(header(&headers, "purser-remaining-tokens"), Some("2800"));

    // A batch's items carry remaining, not the tightest account (for speed).
    let (_, batch) = server.post(
        "/v1/usage:batch",
        json!({"reports": [{"account": "acme/wf/agent", "usage": {"tokens": 1}}]}),
    );
    assert!(batch["results"][0].get("tightest").is_none(), "{batch}");
    assert_eq!(batch["results"][0]["remaining"]["tokens"], 2_799);
}

#[test]
fn a_budget_error_says_what_an_agent_needs_to_decide() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clock) = start_manual(common::config(dir.path()));
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1_000}, "period": {"every": "day", "timezone": "UTC"},
               "thresholds": {"stop": 1.0}}),
    );
    server.usage_ok("acme", json!({"tokens": 900}));
    let (status, headers, error) = server.post_full(
        "/v1/reservations",
        json!({"account": "acme", "amount": {"tokens": 200}}),
    );
    assert_eq!(status, 409, "{error}");
    let error = &error["error"];
    assert_eq!(error["code"], "budget_exhausted");
    assert_eq!(
        (
            &error["account"],
            &error["dimension"],
            &error["requested"],
            &error["available"]
        ),
        (&json!("acme"), &json!("tokens"), &json!(200), &json!(99))
    );
    assert_eq!(
        (&error["limit"], &error["spent"]),
        (&json!(1_000), &json!(900))
    );
    // The manual clock starts at 10:30:15 UTC: the day renews at midnight, 13h29m45s later.
    assert_eq!(error["period"], "day");
    assert_eq!(error["resets_at"], "2026-11-20T00:00:00.000Z");
    let wait_s = 13.0 * 3600.0 + 29.0 * 60.0 + 45.0;
    assert_eq!(error["retry_after_s"].as_f64(), Some(wait_s));
    assert_eq!(header(&headers, "retry-after"), Some("48585"));
    assert_eq!(MANUAL_START_MS % 1000, 0);

    // Without a period, waiting does not help: nothing says when to retry.
    server.put_ok("other", json!({"limits": {"tokens": 10}}));
    let (status, headers, error) = server.post_full(
        "/v1/reservations",
        json!({"account": "other", "amount": {"tokens": 50}}),
    );
    assert_eq!(status, 409);
    assert!(error["error"].get("retry_after_s").is_none(), "{error}");
    assert!(error["error"].get("resets_at").is_none());
    assert!(error["error"].get("period").is_none());
    assert_eq!(error["error"]["limit"], 10);
    assert_eq!(header(&headers, "retry-after"), None);
}

#[test]
fn me_tells_a_token_its_role_scope_and_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(common::config_with_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 50_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 10_000}}));
    server.put_ok("acme/research/wf-1/agent-a", json!({}));
    server.put_ok("beta", json!({"limits": {"tokens": 5_000}}));

    let (status, me) = server.call_as(Some(AGENT_TOKEN), "GET", "/v1/me", None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["role"], &me["scope"]),
        (&json!("agent"), &json!("acme/research/wf-1"))
    );
    let paths: Vec<&Value> = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| &account["path"])
        .collect();
    assert_eq!(
        paths,
        [
            &json!("acme/research/wf-1"),
            &json!("acme/research/wf-1/agent-a")
        ]
    );
    assert_eq!(me["accounts"][0]["limits"]["tokens"], 10_000);

    let (_, me) = server.call_as(Some(ADMIN_TOKEN), "GET", "/v1/me", None);
    assert_eq!((&me["role"], &me["scope"]), (&json!("admin"), &json!("")));
    let paths: Vec<&Value> = me["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| &account["path"])
        .collect();
    assert_eq!(
        paths,
        [&json!("acme"), &json!("beta")],
        "the top-level accounts"
    );

    let (status, _) = server.call_as(None, "GET", "/v1/me", None);
    assert_eq!(status, 401);
}
