//! Forecasts, the optimizer, the audit log, the event stream and budget periods over HTTP.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{assert_error, config, start, start_with};
use serde_json::{Value, json};

#[test]
fn a_forecast_has_the_api_shape_and_bad_queries_name_the_field() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    server.usage_ok("acme", json!({"tokens": 40_000}));
    let (status, forecast) = server.get("/v1/accounts/acme:forecast?dimension=tokens");
    assert_eq!(status, 200, "{forecast}");
    for field in [
        "dimension",
        "method",
        "consumed",
        "limit",
        "projected_total",
        "overage",
        "horizon_end",
        "time_to_exhaustion_s",
        "exhausts_at",
        "interval",
        "confidence",
    ] {
        assert!(forecast.get(field).is_some(), "no {field} in {forecast}");
    }
    assert_eq!(forecast["dimension"], "tokens");
    assert_eq!(forecast["consumed"], 40_000);
    assert_eq!(forecast["limit"], 100_000);
    assert!(forecast["projected_total"].as_u64().unwrap() >= 40_000);
    let confidence = forecast["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));

    assert_error(
        &server.get("/v1/accounts/acme:forecast"),
        400,
        "missing_field",
        Some("dimension"),
    );
    assert_error(
        &server.get("/v1/accounts/acme:forecast?dimension=tokens&x=1"),
        400,
        "unknown_field",
        Some("x"),
    );
    assert_error(
        &server.get("/v1/accounts/acme:forecast?dimension=widgets"),
        404,
        "dimension_not_found",
        Some("dimension"),
    );
    assert_error(
        &server.get("/v1/accounts/acme:forecast?dimension=gpu"),
        409,
        "not_limited",
        Some("dimension"),
    );
    assert_error(
        &server.get("/v1/accounts/nope:forecast?dimension=tokens"),
        404,
        "account_not_found",
        None,
    );
}

#[test]
fn the_optimizer_reclaims_from_idle_agents_grants_to_busy_ones_and_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    // Idle at once, and no periodic pass: the test runs it.
    config.manager.idle_after_ms = Some(0);
    config.manager.optimizer_every_ms = Some(0);
    let server = start_with(config);
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("acme/busy", json!({"limits": {"tokens": 30_000}}));
    server.put_ok("acme/idle", json!({"limits": {"tokens": 30_000}}));
    server.usage_ok("acme/idle", json!({"tokens": 1_000}));
    server.usage_ok("acme/busy", json!({"tokens": 27_000}));

    let (status, dry) = server.post("/v1/optimizer:run?dry_run=true", json!({}));
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let reclaim = dry["moves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mv| mv["kind"] == "reclaim")
        .unwrap_or_else(|| panic!("a reclaim in {dry}"))
        .clone();
    assert_eq!(reclaim["account"], "acme/idle");
    // Half of what is left (29,000) goes back: 30,000 -> 15,500.
    assert_eq!(reclaim["from"], 30_000);
    assert_eq!(reclaim["to"], 15_500);
    let reason = reclaim["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("idle idle ")
            && reason.contains("at 3%")
            && reason.contains("reclaimed 14,500 tokens to acme"),
        "{reason}"
    );
    // A dry run changes nothing.
    assert_eq!(server.status("acme/idle")["limits"]["tokens"], 30_000);

    let (status, run) = server.post("/v1/optimizer:run", json!({}));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["dry_run"], false);
    assert_eq!(server.status("acme/idle")["limits"]["tokens"], 15_500);
    let (_, audit) = server.get("/v1/audit?prefix=acme/idle");
    let entry = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["type"] == "reallocation")
        .unwrap_or_else(|| panic!("a reallocation in {audit}"))
        .clone();
    assert_eq!(entry["actor"], "optimizer");
    assert_eq!(entry["reason"], reclaim["reason"]);
    assert_eq!(entry["data"]["kind"], "reclaim");
    assert_eq!(entry["data"]["delta"], 14_500);
    common::assert_rfc3339(&entry["at"]);
    // The reserve is never handed out: the pool beyond it stays non-negative.
    let parent = server.status("acme");
    assert!(
        parent["pool"]["tokens"].as_u64().unwrap() >= 10_000,
        "{parent}"
    );

    let (status, _) = server.post("/v1/optimizer:run?dry_run=maybe", json!({}));
    assert_eq!(status, 400);
}

#[test]
fn the_audit_log_pages_by_sequence_and_prefix_and_records_denials() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1_000}}));
    server.put_ok("other", json!({"limits": {"tokens": 1_000}}));
    let (status, _) = server.post(
        "/v1/reservations",
        json!({"account": "acme", "amount": {"tokens": 5_000}}),
    );
    assert_eq!(status, 409);
    let (status, audit) = server.get("/v1/audit?prefix=acme");
    assert_eq!(status, 200, "{audit}");
    let events = audit["events"].as_array().unwrap();
    assert!(
        events.iter().all(|entry| entry["account"] == "acme"),
        "{audit}"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"limit_change") && kinds.contains(&"denial"),
        "{kinds:?}"
    );
    let first_seq = events[0]["seq"].as_u64().unwrap();
    let (_, later) = server.get(&format!("/v1/audit?since_seq={first_seq}"));
    assert!(
        later["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|entry| entry["seq"].as_u64().unwrap() > first_seq)
    );
    let (_, limited) = server.get("/v1/audit?limit=1");
    assert_eq!(limited["events"].as_array().unwrap().len(), 1);
    assert_error(
        &server.get("/v1/audit?limit=lots"),
        400,
        "invalid_field",
        Some("limit"),
    );
}

/// Reads server-sent events until one of `kind` arrives; answers its data.
fn read_event(reader: &mut BufReader<TcpStream>, kind: &str) -> (u64, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut id, mut event) = (0, String::new());
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            continue;
        }
        let line = line.trim_end();
        if let Some(value) = line
            .strip_prefix("id: ")
            .or_else(|| line.strip_prefix("id:"))
        {
            id = value.trim().parse().unwrap();
        } else if let Some(value) = line
            .strip_prefix("event: ")
            .or_else(|| line.strip_prefix("event:"))
        {
            event = value.trim().to_string();
        } else if let Some(value) = line
            .strip_prefix("data: ")
            .or_else(|| line.strip_prefix("data:"))
            && event == kind
        {
            return (id, serde_json::from_str(value.trim()).unwrap());
        }
    }
    panic!("no {kind} event within 10 s");
}

fn open_stream(
    server: &common::TestServer,
    query: &str,
    last_event_id: Option<u64>,
) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    write!(
        stream,
        "GET /v1/events{query} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{resume}\r\n"
    )
    .unwrap();
    // The head comes once the server subscribed the stream: every later event reaches it.
    let mut reader = BufReader::new(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        let read = reader.read_line(&mut line).unwrap_or(0);
        if read > 0 && line == "\r\n" {
            return reader;
        }
        assert!(
            !(read > 0 && line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.1 200")),
            "the stream was refused: {line}"
        );
    }
    panic!("the stream's head did not come within 10 s");
}

#[test]
fn the_event_stream_carries_enforcement_changes_under_its_prefix_and_resumes() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1_000}}));
    server.put_ok("other", json!({"limits": {"tokens": 1_000}}));
    // The stream's headers come once the subscription is registered: what follows is seen.
    let mut reader = open_stream(&server, "?prefix=acme", None);
    server.usage_ok("other", json!({"tokens": 800}));
    server.usage_ok("acme", json!({"tokens": 600}));
    let (id, data) = read_event(&mut reader, "enforcement");
    assert_eq!(data["account"], "acme", "{data}");
    assert_eq!(data["data"]["level"], "yellow");
    assert_eq!(data["data"]["action"], "warn");
    drop(reader);

    // Resuming from before that event replays it.
    let mut reader = open_stream(&server, "?prefix=acme", Some(id - 1));
    let (again, _) = read_event(&mut reader, "enforcement");
    assert_eq!(again, id);
    drop(reader);
    server.stop().unwrap();
}

#[test]
fn a_budget_period_renews_with_rollover_and_bad_periods_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = common::start_manual(common::config(dir.path()));
    assert_error(
        &server.put(
            "/v1/accounts/acme",
            json!({"period": {"every": "fortnight"}}),
        ),
        400,
        "invalid_field",
        Some("period.every"),
    );
    assert_error(
        &server.put(
            "/v1/accounts/acme",
            json!({"period": {"every": "day", "timezone": "Mars/Olympus"}}),
        ),
        400,
        "invalid_field",
        Some("period.timezone"),
    );
    assert_error(
        &server.put(
            "/v1/accounts/acme",
            json!({"period": {"every": "day", "rollover_max": 2}}),
        ),
        400,
        "invalid_field",
        Some("period.rollover_max"),
    );
    server.put_ok(
        "acme",
        json!({"limits": {"tokens": 1_000},
               "period": {"every": "hour", "timezone": "Europe/Berlin", "rollover_max": 0.1}}),
    );
    // The clock's tick starts the first period; an hour later the next begins, with up to
    // 10 % of the limit carried over from what was left.
    let periods = |server: &common::TestServer| -> Vec<Value> {
        let (_, audit) = server.get("/v1/audit?prefix=acme");
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["type"] == "period")
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + common::POLL_DEADLINE;
    while periods(&server).is_empty() {
        assert!(Instant::now() < deadline, "no period began");
    }
    server.usage_ok("acme", json!({"tokens": 500}));
    clock.advance(3_600_000);
    while periods(&server).len() < 2 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(3),
            "no second period"
        );
    }
    let renewed = server.status("acme");
    assert_eq!(renewed["limits"]["tokens"], 1_100, "{renewed}");
    assert_eq!(renewed["consumed"]["tokens"], 0, "a new window: {renewed}");
}
