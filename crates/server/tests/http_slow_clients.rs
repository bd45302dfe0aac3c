//! Slow and idle clients do not lock others out (hardening defect 2): about 1,100 idle TCP
//! connections, which need no token, made the server unreachable. The listener now bounds how
//! long a request head and body may take, closes idle keep-alive connections, and keeps
//! headroom for health checks under its connection limit.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use purser_server::config::HttpSection;
use serde_json::{Value, json};

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection; answers what it sent and how long it took.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the server kept the connection open: {err}"),
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

fn body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("non-JSON answer {answer:?}"))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `n` status reads, each timed.
fn timed_reads(server: &TestServer, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            server.status("acme");
            started.elapsed()
        })
        .collect()
}

#[test]
fn hundreds_of_idle_and_slow_connections_do_not_slow_other_clients() {
    let (server, _dir) = start();
    server.put_ok("acme", json!({"limits": {"tokens": 1_000_000}}));
    let before = timed_reads(&server, 50);
    // 400 connections that send nothing, 100 that send half a head, 100 half a body.
    let mut held: Vec<TcpStream> = (0..400).map(|_| connect(server.addr)).collect();
    for _ in 0..100 {
        let mut stream = connect(server.addr);
        stream
            .write_all(b"GET /v1/accounts HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .unwrap();
        held.push(stream);
    }
    for _ in 0..100 {
        let mut stream = connect(server.addr);
        stream
            .write_all(b"POST /v1/usage HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"acc")
            .unwrap();
        held.push(stream);
    }
    let during = timed_reads(&server, 50);
    let (median_before, median_during) = (median(before), median(during.clone()));
    let slowest = during.iter().max().copied().unwrap();
    assert!(
        median_during <= median_before * 5 + Duration::from_millis(20),
        "median {median_during:?} with 600 slow connections held, {median_before:?} without"
    );
    assert!(slowest < Duration::from_secs(1), "slowest {slowest:?}");
    // Still exact: a report goes through and counts once.
    server.usage_ok("acme", json!({"tokens": 3}));
    assert_eq!(server.status("acme")["consumed"]["tokens"], 3);
    drop(held);
}

fn quick_config(data_dir: &std::path::Path) -> purser_server::Config {
    purser_server::Config {
        http: HttpSection {
            header_read_timeout_ms: Some(300),
            body_read_timeout_ms: Some(300),
            connections_max: Some(40),
            health_headroom: Some(8),
            header_bytes_max: None,
        },
        ..config(data_dir)
    }
}

#[test]
fn idle_and_slow_connections_are_closed_after_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(quick_config(dir.path()));
    // Silent from the start.
    let mut idle = connect(server.addr);
    let (answer, took) = read_until_closed(&mut idle);
    assert!(answer.is_empty(), "{answer:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // Idle after one answer on a kept-alive connection.
    let mut kept = connect(server.addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let (answer, took) = read_until_closed(&mut kept);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // A head that trickles in a byte at a time never completes.
    let mut trickle = connect(server.addr);
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: "
        .iter()
        .cycle()
    {
        if trickle.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        // A client that slow is what this test is about.
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        closed,
        "a trickling head was served for {:?}",
        started.elapsed()
    );
    // A body that stops half way is answered 408 in the API's shape.
    let mut half = connect(server.addr);
    half.write_all(b"POST /v1/usage HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"acc")
        .unwrap();
    let (answer, took) = read_until_closed(&mut half);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert_eq!(body_of(&answer)["error"]["code"], "request_timeout");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
}

#[test]
fn a_full_server_still_answers_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config(dir.path());
    // Long enough that the held connections stay while the test looks.
    config.http.header_read_timeout_ms = Some(30_000);
    let server = start_with(config);
    // Each request on its own connection, closed after the answer.
    let send = |method: &str, path: &str| {
        let mut stream = connect(server.addr);
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        read_until_closed(&mut stream).0
    };
    let ask = |path: &str| send("GET", path);
    assert!(send("PUT", "/v1/accounts/acme").starts_with("HTTP/1.1 200"));
    // The 32 regular connections held by clients that send nothing.
    let mut held: Vec<TcpStream> = (0..32).map(|_| connect(server.addr)).collect();
    let health = ask("/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health:?}");
    let busy = ask("/v1/accounts/acme");
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy:?}");
    assert!(
        busy.to_ascii_lowercase().contains("retry-after: 1"),
        "{busy:?}"
    );
    assert_eq!(body_of(&busy)["error"]["code"], "overloaded");
    // With the headroom taken too, a new connection is closed at once rather than left waiting.
    held.extend((0..8).map(|_| connect(server.addr)));
    // The headroom's connections are accepted in order: wait until the last has been seen.
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !refused && Instant::now() < deadline {
        let mut extra = connect(server.addr);
        let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
        let (answer, _) = read_until_closed(&mut extra);
        refused = answer.is_empty();
    }
    assert!(refused, "a connection beyond the limit was served");
    drop(held);
    // Once the clients leave, everyone is served again.
    let served = (0..100).any(|_| ask("/v1/accounts/acme").starts_with("HTTP/1.1 200"));
    assert!(served);
}
