//! The dashboard over HTTP: the sign-in and its cookie, a scoped token's view, the security
//! headers, every page answering for a real state, paging and page weight, and the event
//! stream's `change` events that keep an open page current.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::dags::{lease, submit_ok};
use common::{ADMIN_TOKEN, TestServer, start_with};
use serde_json::json;

const CONFIG: &str = r#"
[[tokens]]
token = "admin-token-0123456789"
role = "admin"

[[tokens]]
token = "operator-token-0123456789"
role = "operator"
scope = "acme/research"
name = "research-lead"

[[pool]]
name = "local"
machines = 1
cores = 4
"#;
const OPERATOR: &str = "operator-token-0123456789";

fn start() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = start_with(common::dags::config(dir.path(), CONFIG));
    server.token = Some(ADMIN_TOKEN.into());
    (server, dir)
}

fn cookie(token: &str) -> String {
    let encoded: String = token
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!("purser_token={encoded}")
}

/// GET `path` as a browser signed in with `token`: status, content type and body.
fn page(server: &TestServer, token: &str, path: &str) -> (u16, String, String) {
    server.get_text(None, path, &[("cookie", &cookie(token))])
}

fn accounts(server: &TestServer) {
    server.put_ok("acme", json!({"limits": {"tokens": 100_000}}));
    server.put_ok("acme/ops", json!({"limits": {"tokens": 10_000}}));
    server.put_ok("acme/research", json!({"limits": {"tokens": 50_000}}));
    server.put_ok("acme/research/wf-1", json!({"limits": {"tokens": 2_000}}));
}

/// A raw HTTP/1.1 exchange (for the answers ureq follows or hides: redirects, cookies).
fn raw(server: &TestServer, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let mut reader = BufReader::new(stream);
    while reader.read_line(&mut answer).unwrap() > 0 {}
    answer
}

#[test]
fn signing_in_sets_a_strict_cookie_and_a_bad_token_is_refused() {
    let (server, _dir) = start();
    let answer = raw(
        &server,
        "GET /ui/accounts HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(
        answer.contains("location: /ui/sign-in?next=%2Fui%2Faccounts"),
        "{answer}"
    );

    let body = format!("token={OPERATOR}&next=%2Fui%2Fdags");
    let answer = raw(
        &server,
        &format!(
            "POST /ui/sign-in HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    assert!(answer.contains("location: /ui/dags"), "{answer}");
    assert!(
        answer.contains("set-cookie: purser_token=operator%2Dtoken%2D0123456789; Path=/; HttpOnly; SameSite=Strict"),
        "{answer}"
    );

    let body = "token=not-a-known-token-000&next=https%3A%2F%2Fevil.example%2F";
    let answer = raw(
        &server,
        &format!(
            "POST /ui/sign-in HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("not one this server knows"));
    assert!(
        !answer.contains("evil.example"),
        "a sign-in never sends elsewhere"
    );
}

#[test]
fn pages_are_locked_down_and_a_scoped_token_sees_its_scope() {
    let (server, _dir) = start();
    accounts(&server);
    let (status, content_type, body) = page(&server, OPERATOR, "/ui/accounts");
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/html"));
    assert!(
        body.contains("href=\"/ui/accounts/acme/research/wf-1\""),
        "{body}"
    );
    assert!(!body.contains("acme/ops"), "outside the scope");
    assert!(body.contains("research-lead (acme/research)"));
    let (status, _, body) = page(&server, OPERATOR, "/ui/accounts/acme/ops");
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = page(&server, OPERATOR, "/ui/accounts?prefix=acme");
    assert_eq!(status, 403);
    // The admin sees everything.
    let (_, _, body) = page(&server, ADMIN_TOKEN, "/ui/accounts");
    assert!(body.contains("/ui/accounts/acme/ops"));

    // Nothing from elsewhere, nothing inline: the CSP says so, and the page obeys it.
    let answer = raw(
        &server,
        &format!(
            "GET /ui/accounts HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncookie: {}\r\n\r\n",
            cookie(ADMIN_TOKEN)
        ),
    );
    assert!(
        answer.contains(
            "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'"
        ),
        "{answer}"
    );
    assert!(answer.contains("x-content-type-options: nosniff"));
    assert!(!answer.contains(" style=\""), "no inline style");
    assert!(!answer.contains("<script>"), "no inline script");
    assert!(
        !answer.contains("http://") || !answer.contains("src=\"http"),
        "no remote resource"
    );
    let (status, content_type, script) = server.get_text(None, "/ui/app.js", &[]);
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/javascript"));
    assert!(script.contains("EventSource"));
}

#[test]
fn every_view_renders_the_engine_figures() {
    let (server, _dir) = start();
    accounts(&server);
    server.usage_ok("acme/research/wf-1", json!({"tokens": 1_600}));
    submit_ok(
        &server,
        json!({"tenant": "acme/research", "name": "nightly", "tasks": [
            {"id": "plan", "runtime_ms": 1000, "requests": {"cores": 2}},
            {"id": "build", "runtime_ms": 1000, "requests": {"cores": 2}, "depends_on": ["plan"]}
        ]}),
    );
    let task = lease(&server, "local-0");
    assert_eq!(task["name"], "plan");
    let hold = server.reserve_ok(
        json!({"account": "acme/research/wf-1", "amount": {"tokens": 100}, "ttl_ms": 60_000}),
    );
    for (path, expect) in [
        ("/ui/accounts", "85.0% / 2,000"),
        ("/ui/accounts/acme/research/wf-1", "<td>100 tokens</td>"),
        (
            "/ui/accounts/acme/research/wf-1",
            "Agents are told to <strong>throttle</strong>",
        ),
        (
            "/ui/accounts/acme/research/wf-1",
            "<figure id=\"consumption\"><svg",
        ),
        ("/ui/alerts", "Forecast alerts"),
        ("/ui/audit?type=enforcement", "acme/research/wf-1 moved"),
        ("/ui/dags", "dag_1</a> nightly"),
        ("/ui/dags/dag_1", "<rect class=\"attempt o-running\""),
        ("/ui/dags/1", "plan"),
        ("/ui/pools", "2 of 4 (50.0%)"),
    ] {
        let (status, _, body) = page(&server, ADMIN_TOKEN, path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(expect), "{path} lacks {expect:?}:\n{body}");
    }
    let (_, _, body) = page(&server, ADMIN_TOKEN, "/ui/accounts/acme/research/wf-1");
    assert!(body.contains(&format!(
        "<th scope=\"row\">{}</th>",
        hold["id"].as_str().unwrap()
    )));
    let (status, _, body) = page(&server, ADMIN_TOKEN, "/ui/audit?type=nonsense");
    assert_eq!(status, 400, "{body}");
    let (status, _, _) = page(&server, ADMIN_TOKEN, "/ui/dags/dag_99");
    assert_eq!(status, 404);
}

#[test]
fn the_tree_is_paged_and_light() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 10_000_000}}));
    for team in 0..5 {
        server.put_ok(
            &format!("acme/t{team}"),
            json!({"limits": {"tokens": 100_000}}),
        );
        for wf in 0..50 {
            server.put_ok(
                &format!("acme/t{team}/wf-{wf:02}"),
                json!({"limits": {"tokens": 1_000}}),
            );
        }
    }
    let (_, _, first) = page(&server, ADMIN_TOKEN, "/ui/accounts");
    assert_eq!(first.matches("<tr data-key=").count(), 100);
    assert!(first.contains("256 accounts"));
    assert!(
        first.contains("rel=\"next\" href=\"/ui/accounts?depth=3&amp;page=2\""),
        "{first}"
    );
    assert!(first.len() < 300_000, "{} bytes", first.len());
    let (_, _, third) = page(&server, ADMIN_TOKEN, "/ui/accounts?depth=3&page=3");
    assert_eq!(third.matches("<tr data-key=").count(), 56);
    assert!(!third.contains("rel=\"next\""));
}

#[test]
fn the_stream_says_when_anything_changed() {
    let (server, _dir) = start();
    accounts(&server);
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/events?changes=true&prefix=acme/research HTTP/1.1\r\nhost: x\r\ncookie: {}\r\n\r\n",
                cookie(OPERATOR)
            )
            .as_bytes(),
        )
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // A usage report changes no level and writes no audit entry, yet the stream tells.
    let sent = Instant::now();
    server.usage_ok("acme/research/wf-1", json!({"tokens": 10}));
    let mut seen = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("event: change") {
            break;
        }
    }
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("data: {\"seq\":"), "{line}");
}
