//! Budget rules over HTTP: shadow mode, child defaults, quarter and lifetime periods, one-time
//! budgets, manual resets, pause at stop, run caps and loops, and increase requests; each with
//! its answer, its refusals and its audit entries, and each surviving a restart.

mod common;

use std::time::Instant;

use common::{
    ADMIN_TOKEN, AGENT_TOKEN, OPERATOR_TOKEN, POLL_DEADLINE, TestServer, assert_error, config,
    config_with_tokens, start, start_manual, start_with,
};
use serde_json::{Value, json};

fn audit_of(server: &TestServer, prefix: &str, kind: &str) -> Vec<Value> {
    let (status, audit) = server.get(&format!("/v1/audit?prefix={prefix}&limit=1000"));
    assert_eq!(status, 200, "{audit}");
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["type"] == kind)
        .cloned()
        .collect()
}

fn hold(server: &TestServer, account: &str, tokens: u64) -> (u16, Value) {
    server.post(
        "/v1/reservations",
        json!({"account": account, "amount": {"tokens": tokens}}),
    )
}

fn report(server: &TestServer, account: &str, operation: &str, tokens: u64) -> Value {
    let (status, body) = server.post(
        "/v1/usage",
        json!({"account": account, "usage": {"tokens": tokens}, "operation": operation}),
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn shadow_mode_reports_the_level_but_only_warns_and_denies_nothing() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 10_000}}));
    let account = server.put_ok(
        "acme/trial",
        json!({"limits": {"tokens": 100}, "rules": {"warn_only": true}}),
    );
    assert_eq!(
        account["rules"]["warn_only"],
        json!(["throttle", "degrade", "stop"])
    );
    let answer = server.usage_ok("acme/trial", json!({"tokens": 97}));
    assert_eq!(answer["level"], "black", "{answer}");
    assert_eq!(answer["action"]["kind"], "warn");
    assert_eq!(answer["action"]["would"], "stop");
    assert!(
        answer["action"]["reason"]
            .as_str()
            .unwrap()
            .contains("shadow mode"),
        "{answer}"
    );
    let (status, body) = hold(&server, "acme/trial", 50);
    assert_eq!(status, 201, "a hold is not denied in shadow mode: {body}");
    let levels = audit_of(&server, "acme/trial", "enforcement");
    assert!(
        levels.iter().any(|entry| entry["data"]["level"] == "black"
            && entry["reason"].as_str().unwrap().contains("shadow mode")),
        "{levels:?}"
    );
    // Only the stop threshold in shadow: the others still act.
    server.put_ok(
        "acme/half",
        json!({"limits": {"tokens": 100}, "rules": {"warn_only": ["stop"]}}),
    );
    assert_eq!(
        server.usage_ok("acme/half", json!({"tokens": 91}))["action"]["kind"],
        "degrade"
    );
    assert_error(
        &server.put(
            "/v1/accounts/acme/half",
            json!({"rules": {"warn_only": ["sometimes"]}}),
        ),
        400,
        "invalid_field",
        Some("rules.warn_only"),
    );
    // Rules set and removed are audited, with who did it.
    server.put_ok("acme/half", json!({"rules": {}}));
    let rules = audit_of(&server, "acme/half", "rules");
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules[1]["reason"].as_str().unwrap().contains("removed"));
    assert!(server.status("acme/half").get("rules").is_none());
}

#[test]
fn children_made_on_the_fly_get_their_parents_defaults() {
    let (server, _dir) = start();
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1_000, "cost_micros": 10_000},
               "rules": {"child_defaults": {"tokens": 300, "cost_micros": 2_000}}}),
    );
    let agent = server.put_ok("acme/agent-1", json!({}));
    assert_eq!(
        agent["limits"],
        json!({"cost_micros": 2_000, "tokens": 300})
    );
    let named = server.put_ok("acme/agent-2", json!({"limits": {"tokens": 100}}));
    assert_eq!(
        named["limits"],
        json!({"cost_micros": 2_000, "tokens": 100})
    );
    server.put_ok("acme/agent-3", json!({}));
    // The pool is short for a fourth default child: refused with the pool's figures.
    let (status, body) = server.put("/v1/accounts/acme/agent-4", json!({}));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_pool");
    let status = server.status("acme");
    assert_eq!(
        status["rules"]["child_defaults"],
        json!({"cost_micros": 2_000, "tokens": 300})
    );
    // Audited: the rules set on the parent, and the child opened with the defaults' limits.
    let rules = audit_of(&server, "acme", "rules");
    assert_eq!(
        rules[0]["data"]["child_defaults"],
        json!({"cost_micros": 2_000, "tokens": 300})
    );
    let opened = audit_of(&server, "acme/agent-1", "limit_change");
    assert_eq!(
        opened[0]["data"]["limits"],
        json!({"cost_micros": 2_000, "tokens": 300}),
        "{opened:?}"
    );
}

#[test]
fn quarters_lifetimes_resets_and_period_changes() {
    let (server, _dir) = start();
    let account = server.put_ok(
        "fiscal",
        json!({"limits": {"tokens": 100},
               "period": {"every": "quarter", "fiscal_start_month": 4}}),
    );
    assert_eq!(account["period"]["every"], "quarter", "{account}");
    assert!(account["period"]["renews_at"].is_string());
    assert_error(
        &server.put(
            "/v1/accounts/bad",
            json!({"period": {"every": "quarter", "fiscal_start_month": 13}}),
        ),
        400,
        "invalid_field",
        Some("period.fiscal_start_month"),
    );
    assert_error(
        &server.put(
            "/v1/accounts/bad",
            json!({"period": {"every": "month", "fiscal_start_month": 4}}),
        ),
        400,
        "invalid_field",
        Some("period.fiscal_start_month"),
    );
    // The report says which window each account renews on.
    let (_, report) = server.get("/v1/accounts/fiscal:report");
    assert_eq!(
        report["rules"][0]["rules"],
        json!(["period: quarter (fiscal year from month 4), UTC"]),
        "{report}"
    );
    // An account that spent and gets its first period must confirm its usage stops counting.
    server.put_ok("late", json!({"limits": {"tokens": 100}}));
    server.usage_ok("late", json!({"tokens": 60}));
    assert_error(
        &server.put("/v1/accounts/late", json!({"period": {"every": "day"}})),
        400,
        "keep_usage_required",
        Some("keep_usage"),
    );
    assert_error(
        &server.put(
            "/v1/accounts/late",
            json!({"period": {"every": "day"}, "keep_usage": true}),
        ),
        400,
        "keep_usage_unsupported",
        Some("keep_usage"),
    );
    let late = server.put_ok(
        "late",
        json!({"period": {"every": "day"}, "keep_usage": false}),
    );
    assert_eq!(late["remaining"]["tokens"], 100, "{late}");
    let life = server.put_ok(
        "life",
        json!({"limits": {"tokens": 100}, "period": {"every": "lifetime"}}),
    );
    assert_eq!(life["period"]["every"], "lifetime");
    assert!(
        life["period"]["renews_at"].is_null(),
        "never renews: {life}"
    );

    // A manual reset: the window restarts, audited with the actor.
    server.usage_ok("life", json!({"tokens": 96}));
    assert_eq!(server.status("life")["level"], "black");
    let (status, reset) = server.post("/v1/accounts/life:reset", json!({}));
    assert_eq!(status, 200, "{reset}");
    assert_eq!(reset["level"], "green");
    assert_eq!(reset["remaining"]["tokens"], 100);
    let resets = audit_of(&server, "life", "usage_reset");
    assert_eq!(resets.len(), 1, "{resets:?}");

    // Changing the unit must say whether the current window's usage is kept.
    server.usage_ok("life", json!({"tokens": 40}));
    assert_error(
        &server.put("/v1/accounts/life", json!({"period": {"every": "month"}})),
        400,
        "keep_usage_required",
        Some("keep_usage"),
    );
    let kept = server.put_ok(
        "life",
        json!({"period": {"every": "month"}, "keep_usage": true}),
    );
    assert_eq!(kept["remaining"]["tokens"], 60, "kept: {kept}");
    let reset = server.put_ok(
        "life",
        json!({"period": {"every": "day"}, "keep_usage": false}),
    );
    assert_eq!(reset["remaining"]["tokens"], 100, "reset: {reset}");
    // The day's window starts now: it renews at the next midnight UTC, not at the month's end.
    let renews = reset["period"]["renews_at"].as_str().unwrap();
    assert!(renews.ends_with("T00:00:00.000Z"), "{reset}");
    let tomorrow = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap();
    assert!(
        renews <= tomorrow.to_string().as_str(),
        "{renews} vs {tomorrow}"
    );
}

#[test]
fn pause_at_stop_tells_the_agent_to_idle_and_resumes_when_raised() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 10_000}}));
    server.put_ok(
        "acme/agent",
        json!({"limits": {"tokens": 100}, "rules": {"at_stop": "pause"}}),
    );
    let answer = server.usage_ok("acme/agent", json!({"tokens": 96}));
    assert_eq!(answer["action"]["kind"], "pause", "{answer}");
    assert!(
        answer["action"]["reason"]
            .as_str()
            .unwrap()
            .contains("paused"),
        "{answer}"
    );
    let (status, body) = hold(&server, "acme/agent", 1);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "paused", "{body}");
    assert_eq!(body["error"]["account"], "acme/agent");
    let raised = server.put_ok("acme/agent", json!({"limits": {"tokens": 400}}));
    assert_eq!(raised["action"]["kind"], "continue", "{raised}");
    let levels = audit_of(&server, "acme/agent", "enforcement");
    let reasons: Vec<&str> = levels
        .iter()
        .map(|entry| entry["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|reason| reason.ends_with("paused until the budget is raised"))
            && reasons.iter().any(|reason| reason.ends_with("resumed")),
        "{reasons:?}"
    );
    assert_error(
        &server.put(
            "/v1/accounts/acme/agent",
            json!({"rules": {"at_stop": "sleep"}}),
        ),
        400,
        "invalid_field",
        Some("rules.at_stop"),
    );
}

#[test]
fn run_caps_and_loops_stop_a_run_until_an_operator_starts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(config(dir.path()));
    server.put_ok(
        "turns",
        json!({"limits": {"tokens": 1_000_000}, "rules": {"run": {"max_turns": 3}}}),
    );
    server.put_ok(
        "looping",
        json!({"limits": {"tokens": 1_000_000},
               "rules": {"run": {"loop": {"repeats": 4, "window_s": 60, "stop": true}}}}),
    );
    server.put_ok(
        "watched",
        json!({"limits": {"tokens": 1_000_000},
               "rules": {"run": {"loop": {"repeats": 4, "window_s": 60}}}}),
    );
    report(&server, "turns", "plan", 10);
    report(&server, "turns", "edit", 10);
    let third = report(&server, "turns", "test", 10);
    assert_eq!(third["action"]["kind"], "stop", "{third}");
    assert!(
        third["action"]["reason"]
            .as_str()
            .unwrap()
            .contains("3 turns"),
        "{third}"
    );
    let (status, body) = hold(&server, "turns", 1);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "run_capped");
    let shown = server.status("turns");
    assert_eq!(shown["halt"]["cap"], "turns", "{shown}");
    assert_eq!(shown["rules"]["run"]["turns"], 3);

    for tokens in [500, 505, 498, 502] {
        report(&server, "looping", "retry", tokens);
        report(&server, "watched", "retry", tokens);
    }
    assert_eq!(server.status("looping")["action"]["kind"], "stop");
    let watched = server.status("watched");
    assert_eq!(
        watched["action"]["kind"], "warn",
        "an alert only: {watched}"
    );
    assert_eq!(watched["halt"]["stops"], false);
    let loops = audit_of(&server, "watched", "run_cap");
    assert!(
        loops[0]["reason"]
            .as_str()
            .unwrap()
            .contains("loop detected"),
        "{loops:?}"
    );

    // The report says what is in force and why.
    let (status, report) = server.get("/v1/accounts/turns:report");
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["rules"][0]["rules"],
        json!(["run cap 3 turns"]),
        "{report}"
    );
    assert!(
        report["rules"][0]["halt"]
            .as_str()
            .unwrap()
            .contains("stopped (turns)"),
        "{report}"
    );

    // Operators see the halts in /metrics: `turns` and `looping` stop, `watched` only warns.
    let (status, _, metrics) = server.get_text(None, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("\npurser_accounts_halted 2.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\npurser_increase_requests_pending 0.0\n"),
        "{metrics}"
    );

    // The dashboard's page says why, and which rules are set.
    let (status, _, page) = server.get_text(None, "/ui/accounts/turns", &[]);
    assert_eq!(status, 200);
    assert!(
        page.contains("<strong>Why:</strong> turns stopped (turns)"),
        "{page}"
    );
    assert!(page.contains("Budget rules: run cap 3 turns."), "{page}");

    // The halt survives a restart (journaled), and a new run lifts it.
    server.stop().unwrap();
    let server = start_with(config(dir.path()));
    assert_eq!(server.status("turns")["halt"]["cap"], "turns");
    let (status, started) = server.post("/v1/accounts/turns:run", json!({}));
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["action"]["kind"], "continue");
    assert_eq!(started["rules"]["run"]["turns"], 0);
    assert_eq!(audit_of(&server, "turns", "run_started").len(), 1);
    let (status, started) = server.post("/v1/accounts/looping:run", json!({}));
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["action"]["kind"], "continue");
    assert_error(
        &server.post("/v1/accounts/nobody-caps:run", json!({})),
        404,
        "account_not_found",
        None,
    );
    server.put_ok("plain", json!({"limits": {"tokens": 10}}));
    assert_error(
        &server.post("/v1/accounts/plain:run", json!({})),
        409,
        "no_run_caps",
        None,
    );
}

#[test]
fn the_clock_stops_a_run_past_its_wall_time_and_an_expired_one_time_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = start_manual(config(dir.path()));
    server.put_ok(
        "run",
        json!({"limits": {"tokens": 1_000}, "rules": {"run": {"max_wall_s": 60}}}),
    );
    let expires = purser_engine::time::rfc3339(common::MANUAL_START_MS + 120_000);
    server.put_ok(
        "once",
        json!({"limits": {"tokens": 1_000}, "rules": {"expires_at": expires}}),
    );
    assert_eq!(server.status("run")["action"]["kind"], "continue");
    clock.advance(120_001);
    let deadline = Instant::now() + POLL_DEADLINE;
    while server.status("once")["action"]["kind"] != "stop"
        || server.status("run")["action"]["kind"] != "stop"
    {
        assert!(Instant::now() < deadline, "{}", server.status("once"));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, body) = hold(&server, "once", 1);
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "budget_expired");
    let caps = audit_of(&server, "once", "run_cap");
    assert_eq!(caps[0]["actor"], "clock", "{caps:?}");
    assert!(
        caps[0]["reason"]
            .as_str()
            .unwrap()
            .contains("budget expired")
    );
    assert_eq!(server.status("run")["halt"]["cap"], "wall_time");
}

#[test]
fn an_agent_asks_for_more_and_an_operator_approves_it_from_the_parents_pool() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_with(config_with_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 10_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 2_000}}));
    let ask = |server: &TestServer, tokens: u64| {
        server.call_as(
            Some(AGENT_TOKEN),
            "POST",
            "/v1/accounts/acme/research/wf-1:request",
            Some(
                json!({"amount": {"tokens": tokens}, "reason": "the review found two more bugs",
                        "idempotency_key": format!("ask-{tokens}")}),
            ),
        )
    };
    let (status, first) = ask(&server, 3_000);
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["state"], "pending");
    let id = first["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("req_"), "{first}");
    // A retry with the same key finds the same request.
    let (_, retried) = ask(&server, 3_000);
    assert_eq!(retried["id"], first["id"], "{retried}");
    let (_, second) = ask(&server, 8_000);
    let second_id = second["id"].as_str().unwrap().to_string();
    // An agent cannot ask for an account outside its scope, nor decide.
    let (status, _) = server.call_as(
        Some(AGENT_TOKEN),
        "POST",
        "/v1/accounts/acme/research:request",
        Some(json!({"amount": {"tokens": 1}, "reason": "more"})),
    );
    assert_eq!(status, 403);
    let (status, _) = server.call_as(
        Some(AGENT_TOKEN),
        "POST",
        &format!("/v1/requests/{id}:approve"),
        None,
    );
    assert_eq!(status, 403);

    let (status, pending) = server.call_as(Some(OPERATOR_TOKEN), "GET", "/v1/requests", None);
    assert_eq!(status, 200, "{pending}");
    assert_eq!(pending["requests"].as_array().unwrap().len(), 2);
    let (_, _, metrics) = server.get_text(Some(OPERATOR_TOKEN), "/metrics", &[]);
    assert!(
        metrics.contains("\npurser_increase_requests_pending 2.0\n"),
        "{metrics}"
    );
    let (status, approved) = server.call_as(
        Some(OPERATOR_TOKEN),
        "POST",
        &format!("/v1/requests/{id}:approve"),
        Some(json!({"note": "go ahead"})),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["limits"], json!({"tokens": 5_000}));
    // The same decision again (a retry) answers the request; the limit moved once.
    let (status, again) = server.call_as(
        Some(OPERATOR_TOKEN),
        "POST",
        &format!("/v1/requests/{id}:approve"),
        None,
    );
    assert_eq!(
        (status, &again["state"]),
        (200, &json!("approved")),
        "{again}"
    );
    assert_eq!(
        server.status("acme/research/wf-1")["limits"]["tokens"],
        5_000
    );
    // The second does not fit in the parent's pool beyond its reserve: refused, nothing moved.
    let (status, body) = server.call_as(
        Some(OPERATOR_TOKEN),
        "POST",
        &format!("/v1/requests/{second_id}:approve"),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_pool");
    let (status, rejected) = server.call_as(
        Some(OPERATOR_TOKEN),
        "POST",
        &format!("/v1/requests/{second_id}:reject"),
        Some(json!({"note": "too much this week"})),
    );
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["state"], "rejected");
    assert_error(
        &server.call_as(
            Some(OPERATOR_TOKEN),
            "POST",
            &format!("/v1/requests/{second_id}:approve"),
            None,
        ),
        409,
        "request_decided",
        None,
    );
    assert_error(
        &server.get("/v1/requests/req_99999"),
        404,
        "request_not_found",
        None,
    );
    assert_error(
        &server.post(
            "/v1/accounts/acme/research/wf-1:request",
            json!({"amount": {"tokens": 1}}),
        ),
        400,
        "invalid_field",
        Some("reason"),
    );
    let (status, all) = server.get("/v1/requests?state=all");
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["requests"].as_array().unwrap().len(), 2);
    let (_, none_pending) = server.get("/v1/requests");
    assert!(none_pending["requests"].as_array().unwrap().is_empty());
    let (_, _, metrics) = server.get_text(Some(ADMIN_TOKEN), "/metrics", &[]);
    assert!(
        metrics.contains("\npurser_increase_requests_pending 0.0\n"),
        "{metrics}"
    );

    // Audited: asked by the agent's token, decided by the operator's.
    let entries = audit_of(&server, "acme/research/wf-1", "increase_request");
    assert_eq!(entries.len(), 4, "{entries:?}");
    let asked = entries
        .iter()
        .find(|entry| entry["data"]["state"] == "pending")
        .unwrap();
    let approval = entries
        .iter()
        .find(|entry| entry["data"]["state"] == "approved")
        .unwrap();
    assert!(approval["reason"].as_str().unwrap().contains("go ahead"));
    assert_ne!(asked["actor"], approval["actor"], "{entries:?}");
    assert_ne!(asked["actor"], "api");

    // The report of the parent shows the requests, and the rules' section.
    let (status, report) = server.get("/v1/accounts/acme/research:report");
    assert_eq!(status, 200, "{report}");
    let requests = report["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{report}");
    assert_eq!(requests[0]["state"], "rejected");
    assert_eq!(requests[0]["note"], "too much this week");
    let (status, _, markdown) = server.get_text(
        Some(ADMIN_TOKEN),
        "/v1/accounts/acme/research:report?format=markdown",
        &[],
    );
    assert_eq!(status, 200);
    assert!(markdown.contains("## Increase requests"), "{markdown}");
    assert!(
        markdown.contains("the review found two more bugs"),
        "{markdown}"
    );

    // Kept across a restart.
    server.stop().unwrap();
    let mut server = start_with(config_with_tokens(dir.path()));
    server.token = Some(ADMIN_TOKEN.into());
    let (_, again) = server.get(&format!("/v1/requests/{id}"));
    assert_eq!(again["state"], "approved", "{again}");
    assert_eq!(again["note"], "go ahead");
}
