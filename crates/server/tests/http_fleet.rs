//! The fleet over HTTP: agent profiles with the Kubernetes guide's defaults, agents registering
//! and turning unhealthy when their heartbeats stop (in the API, the audit log and the
//! metrics), the HPA's replica count from their usage, the VPA's requests from samples, and the
//! resource monitor's pressure on a pool.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, start_manual};
use serde_json::{Value, json};

fn config(dir: &std::path::Path) -> purser_server::Config {
    let mut config = common::dags::config(
        dir,
        r#"
[[pool]]
name = "local"
machines = 1
cores = 4
"#,
    );
    config.monitor.every_ms = Some(100);
    config.monitor.for_ms = Some(1_000);
    config
}

/// Polls `probe` until it answers Some, for up to 10 s of real time.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn audit_with(server: &common::TestServer, needle: &str) -> Option<Value> {
    let (status, page) = server.get("/v1/audit?limit=1000");
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()?
        .iter()
        .find(|entry| entry["reason"].as_str().is_some_and(|r| r.contains(needle)))
        .cloned()
}

#[test]
fn profiles_have_the_guides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clock) = start_manual(config(dir.path()));
    let (status, answer) = server.get("/v1/profiles");
    assert_eq!(status, 200, "{answer}");
    let figures: Vec<(String, String, String, String, String, String, String)> = answer["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap().to_string();
            (
                s(&p["name"]),
                s(&p["requests"]["cpu"]),
                s(&p["requests"]["memory"]),
                s(&p["limits"]["cpu"]),
                s(&p["limits"]["memory"]),
                s(&p["storage"]),
                s(&p["priority_class"]),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str, g: &str| {
        (
            a.into(),
            b.into(),
            c.into(),
            d.into(),
            e.into(),
            f.into(),
            g.into(),
        )
    };
    assert_eq!(
        figures,
        vec![
            row("implementation", "2", "8Gi", "4", "16Gi", "10Gi", "high"),
            row("quality", "1", "4Gi", "2", "8Gi", "10Gi", "standard"),
            row("testing", "2", "8Gi", "4", "16Gi", "50Gi", "high"),
        ]
    );
    assert_eq!(server.get("/v1/profiles/testing").1["role"], "testing");
    assert_error(&server.get("/v1/profiles/nobody"), 404, "not_found", None);
    assert_error(
        &server.get("/v1/profiles/testing:explode"),
        404,
        "not_found",
        None,
    );
}

#[test]
fn an_agent_whose_heartbeat_stops_turns_unhealthy_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = start_manual(config(dir.path()));
    let (status, agent) = server.put(
        "/v1/agents/impl-1",
        json!({"profile": "implementation", "version": "1.4.2", "labels": {"team": "core"}}),
    );
    assert_eq!(status, 200, "{agent}");
    assert_eq!(
        (agent["healthy"].clone(), agent["status"].clone()),
        (json!(true), json!("ok"))
    );
    assert_error(
        &server.put("/v1/agents/impl-2", json!({"profile": "astronaut"})),
        400,
        "invalid_field",
        Some("profile"),
    );
    assert_error(
        &server.put("/v1/agents/bad%20name", json!({"profile": "quality"})),
        400,
        "invalid_field",
        Some("name"),
    );
    assert_error(
        &server.post("/v1/agents/ghost:heartbeat", json!({})),
        404,
        "not_found",
        None,
    );
    let (status, beat) = server.post(
        "/v1/agents/impl-1:heartbeat",
        json!({"status": "busy", "cpu_millicores": 1500, "memory_bytes": 4_000_000_000u64}),
    );
    assert_eq!(status, 200, "{beat}");
    assert_eq!(beat["cpu_millicores"], 1500);

    clock.advance(31_000);
    eventually("the agent to turn unhealthy", || {
        let (_, agent) = server.get("/v1/agents/impl-1");
        (agent["healthy"] == false).then_some(())
    });
    let entry = eventually("the audit entry", || audit_with(&server, "is unhealthy"));
    assert_eq!(entry["type"], "agent");
    assert_eq!(entry["data"]["healthy"], false);
    let (_, _, text) = server.get_text(None, "/metrics", &[]);
    assert!(
        text.contains(r#"purser_agents{profile="implementation",state="unhealthy"} 1"#),
        "{text}"
    );
    let (_, listing) = server.get("/v1/agents?profile=implementation");
    assert_eq!(listing["agents"][0]["name"], "impl-1");

    let (_, beat) = server.post("/v1/agents/impl-1:heartbeat", json!({}));
    assert_eq!(beat["healthy"], true);
    eventually("the healthy-again entry", || {
        audit_with(&server, "healthy again")
    });
    assert_eq!(server.delete("/v1/agents/impl-1").0, 200);
    assert_error(&server.get("/v1/agents/impl-1"), 404, "not_found", None);
}

#[test]
fn the_hpa_scales_a_profile_on_its_agents_usage() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = start_manual(config(dir.path()));
    let beat_all = |cpu: u64| {
        for name in ["q-1", "q-2"] {
            let (status, body) = server.post(
                &format!("/v1/agents/{name}:heartbeat"),
                json!({"cpu_millicores": cpu, "memory_bytes": 1u64 << 30}),
            );
            assert_eq!(status, 200, "{body}");
        }
    };
    for name in ["q-1", "q-2"] {
        assert_eq!(
            server
                .put(&format!("/v1/agents/{name}"), json!({"profile": "quality"}))
                .0,
            200
        );
    }
    // 900m of a 1-core request is 90 % against a 70 % target: ceil(2 x 90 / 70) = 3 replicas,
    // once the 5 minutes of scale-up stabilization have passed.
    beat_all(900);
    let (status, first) = server.get("/v1/profiles/quality:scale");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["current_replicas"], 2, "{first}");
    for _ in 0..22 {
        clock.advance(15_000);
        beat_all(900);
        std::thread::sleep(Duration::from_millis(250));
    }
    let decision = eventually("a scale-up to 3", || {
        let (_, answer) = server.get("/v1/profiles/quality:scale");
        (answer["desired_replicas"] == 3).then_some(answer)
    });
    let cpu = &decision["metrics"][0];
    assert_eq!(
        (cpu["metric"].clone(), cpu["replicas"].clone()),
        (json!("cpu"), json!(3)),
        "{decision}"
    );
    assert_eq!(cpu["utilization_percent"], 90, "{decision}");
    assert_eq!(decision["metric"], "cpu", "{decision}");
    let (_, _, text) = server.get_text(None, "/metrics", &[]);
    assert!(
        text.contains(r#"purser_profile_desired_replicas{profile="quality"} 3"#),
        "{text}"
    );
}

#[test]
fn samples_give_the_vpa_recommendation() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _clock) = start_manual(config(dir.path()));
    let start_ms = common::MANUAL_START_MS - 86_400_000;
    let samples: Vec<Value> = (0..1_440u64)
        .map(|minute| {
            json!({"container": "agent",
                   "at": purser_server::wire::rfc3339(start_ms + minute * 60_000),
                   "cpu_millicores": 400 + (minute % 10) * 20, "memory_bytes": 2u64 << 30})
        })
        .collect();
    let (status, answer) = server.post("/v1/profiles/quality/samples", json!({"samples": samples}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"accepted": 1_440, "dropped": 0}));
    let (status, advice) = server.get("/v1/profiles/quality:rightsize");
    assert_eq!(status, 200, "{advice}");
    let container = &advice["containers"][0];
    assert_eq!(container["container"], "agent");
    let target_cpu = container["target"]["cpu_millicores"].as_u64().unwrap();
    // The 90th percentile of 400..580 is about 560, plus 15 %.
    assert!((560..=720).contains(&target_cpu), "{advice}");
    assert!(
        container["target"]["memory_bytes"].as_u64().unwrap() >= 2u64 << 30,
        "{advice}"
    );
    assert!(
        container["lower_bound"]["cpu_millicores"].as_u64().unwrap() <= target_cpu,
        "{advice}"
    );
    assert_eq!(advice["requests"]["cpu"], "1");
    assert_error(
        &server.post(
            "/v1/profiles/quality/samples",
            json!({"samples": [{"container": "agent"}]}),
        ),
        400,
        "invalid_value",
        Some("samples[0].cpu_millicores"),
    );
    assert_error(
        &server.post("/v1/profiles/nobody/samples", json!({"samples": []})),
        404,
        "not_found",
        None,
    );
}

#[test]
fn a_full_pool_raises_a_pressure_alert_after_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let (server, clock) = start_manual(config(dir.path()));
    let dag = common::dags::submit_ok(
        &server,
        json!({"tenant": "acme", "tasks": [
            {"id": "big", "runtime_ms": 3_600_000, "requests": {"cores": 4}}]}),
    );
    assert!(dag["id"].is_string());
    let leased = common::dags::lease(&server, "local-0");
    assert_eq!(leased["name"], "big", "{leased}");
    // The pool is full: pending for a second of the monitor's clock, then firing.
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..4 {
        clock.advance(600);
        std::thread::sleep(Duration::from_millis(300));
    }
    let entry = eventually("the pressure alert", || {
        audit_with(&server, "pool/local cores")
    });
    assert_eq!(
        (entry["type"].clone(), entry["actor"].clone()),
        (json!("alert"), json!("monitor"))
    );
    assert_eq!(entry["data"]["what"], "pressure");
    assert!(
        entry["reason"].as_str().unwrap().contains("critical"),
        "{entry}"
    );
    let (_, _, text) = server.get_text(None, "/metrics", &[]);
    assert!(
        text.contains(r#"purser_pressure_level{subject="pool/local",dimension="cores"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"purser_monitor_findings_total{kind="pressure"}"#),
        "{text}"
    );
}

#[test]
fn a_new_agent_gets_its_profiles_budget_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.profile = vec![purser_k8s::profile::ProfileConfig {
        name: "writer".into(),
        budget: [("tokens".to_string(), 50_000u64)].into_iter().collect(),
        ..Default::default()
    }];
    let (server, _clock) = start_manual(config);
    server.put_ok("acme", json!({"limits": {"tokens": 1_000_000}}));
    let (status, agent) = server.put(
        "/v1/agents/w-1",
        json!({"profile": "writer", "account": "acme/w-1"}),
    );
    assert_eq!(status, 200, "{agent}");
    assert_eq!(agent["opened_account"], "acme/w-1");
    assert_eq!(server.status("acme/w-1")["limits"]["tokens"], 50_000);
    // An account that exists keeps its limits.
    server.put_ok("acme/w-1", json!({"limits": {"tokens": 70_000}}));
    let (_, again) = server.put(
        "/v1/agents/w-1",
        json!({"profile": "writer", "account": "acme/w-1"}),
    );
    assert!(again.get("opened_account").is_none(), "{again}");
    assert_eq!(server.status("acme/w-1")["limits"]["tokens"], 70_000);

    assert_error(
        &server.post(
            "/v1/agents/w-1:heartbeat",
            json!({"cpu_millicores": 1u64 << 60}),
        ),
        400,
        "invalid_field",
        Some("cpu_millicores"),
    );
    let labels: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("label-{i}"), json!("x".repeat(250))))
        .collect();
    assert_error(
        &server.put(
            "/v1/agents/w-2",
            json!({"profile": "writer", "labels": labels}),
        ),
        400,
        "invalid_field",
        Some("labels"),
    );
    let future = purser_server::wire::rfc3339(common::MANUAL_START_MS + 3_600_000);
    assert_error(
        &server.post(
            "/v1/profiles/writer/samples",
            json!({"samples": [{"container": "agent", "at": future, "cpu_millicores": 5}]}),
        ),
        400,
        "invalid_value",
        Some("samples[0].at"),
    );
    // A profile nobody runs is recommended its floor.
    let (_, scale) = server.get("/v1/profiles/writer:scale");
    assert_eq!(
        (
            scale["current_replicas"].clone(),
            scale["desired_replicas"].clone()
        ),
        (json!(1), json!(1)),
        "{scale}"
    );
    assert_eq!(server.delete("/v1/agents/w-1").0, 200);
    let (_, scale) = server.get("/v1/profiles/writer:scale");
    assert_eq!(scale["desired_replicas"], 1, "{scale}");
    assert!(
        scale["reason"].as_str().unwrap().contains("no agent"),
        "{scale}"
    );
}
