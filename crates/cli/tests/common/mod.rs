//! What the tests that run the real binary share: a free port, a served binary and a JSON call.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Starts `purser serve` on a free port with `data_dir` and `extra` arguments, waits until it
/// answers `/readyz`, and answers the process and its base URL.
pub fn serve(data_dir: &Path, extra: &[&OsStr]) -> (Child, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_purser"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent.get(format!("{url}/readyz")).call().is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, url)
}

/// A xorshift generator from `seed` (not zero): the seeded randomness of the tests that print
/// their seed to replay a failure.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a request; Ok((status, body)) with a `location` field added for redirects, Err when
/// the connection failed or timed out.
pub fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap();
    let mut response = agent.run(request).map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    let mut value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let (Some(location), Some(object)) = (location, value.as_object_mut()) {
        object.insert("location".into(), location.into());
    }
    Ok((status, value))
}
