//! Starts the real server on `127.0.0.1:0` with a temporary data directory and talks to it over
//! HTTP, the way a client does.

#![allow(dead_code)]

pub mod dags;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use purser_engine::{Clock, ManualClock, WallClock};
use purser_server::config::{DurabilityConfig, TokenConfig};
use purser_server::{Config, ServerError, auth::Role};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long a test waits for something the server does on its own (expiries).
pub const POLL_DEADLINE: Duration = Duration::from_secs(3);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const OPERATOR_TOKEN: &str = "operator-token-0123456789";
pub const AGENT_TOKEN: &str = "agent-token-0123456789";

/// A running server; stopped (and waited for) when dropped.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The token requests carry unless told otherwise.
    pub token: Option<String>,
    agent: ureq::Agent,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

/// A server without tokens on a fresh data directory (kept alive by the returned `TempDir`).
pub fn start() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = start_with(config(dir.path()));
    (server, dir)
}

/// The config tests use: the given data directory, everything else the defaults.
pub fn config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        durability: DurabilityConfig::Os,
        ..Config::default()
    }
}

/// A config with an admin, an operator scoped to `acme/research` and an agent scoped to
/// `acme/research/wf-1`.
pub fn config_with_tokens(data_dir: &Path) -> Config {
    let token = |token: &str, role, scope: &str| TokenConfig {
        token: token.into(),
        role,
        scope: scope.into(),
        name: None,
    };
    Config {
        tokens: vec![
            token(ADMIN_TOKEN, Role::Admin, ""),
            token(OPERATOR_TOKEN, Role::Operator, "acme/research"),
            token(AGENT_TOKEN, Role::Agent, "acme/research/wf-1"),
        ],
        ..config(data_dir)
    }
}

/// Where the manual clock of a test starts: 2026-11-19T10:30:15Z.
pub const MANUAL_START_MS: u64 = 1_795_084_215_000;

/// A server on a manual clock: time moves only when the test advances it (the server's tick
/// still runs every 200 ms of real time, reading the manual clock).
pub fn start_manual(config: Config) -> (TestServer, ManualClock) {
    let clock = ManualClock::starting_at(MANUAL_START_MS);
    let server = start_on_clock(config, Arc::new(clock.clone()));
    (server, clock)
}

/// Runs `purser_server::run` on a thread that owns its runtime, listening on `127.0.0.1:0`.
pub fn start_with(config: Config) -> TestServer {
    start_on_clock(config, Arc::new(WallClock))
}

fn start_on_clock(config: Config, clock: Arc<dyn Clock>) -> TestServer {
    let data_dir = config.data_dir.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx
                .send(listener.local_addr()?)
                .expect("the test waits for the address");
            let shutdown = async move {
                let _ = shutdown_rx.await;
            };
            purser_server::run_with_clock(config, listener, shutdown, clock).await
        })
    });
    let addr = addr_rx.recv().expect("the server thread sends its address");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    TestServer {
        base: format!("http://{addr}"),
        addr,
        data_dir,
        token: None,
        agent,
        shutdown: Some(shutdown),
        thread: Some(thread),
    }
}

impl TestServer {
    /// Stops the server and answers what `run` returned.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ServerError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("the server thread does not panic"),
            None => Ok(()),
        }
    }

    /// Sends `body` as is with the server's default token; answers the status and the JSON body.
    pub fn raw(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.raw_as(self.token.as_deref(), method, path, body)
    }

    pub fn raw_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let authorization = token.map(|token| format!("Bearer {token}"));
        self.raw_authorized(authorization.as_deref(), method, path, body)
    }

    /// One request with exactly `headers`: the status, the answer's headers (names lower-case)
    /// and its body as text.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("a valid request");
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        let answer_headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .expect("a readable body");
        (status, answer_headers, text)
    }

    /// Sends `body` with `authorization` as the whole `Authorization` header, if any.
    pub fn raw_authorized(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(authorization.map(|value| ("authorization", value)));
        let (status, _, text) = self.exchange(method, path, &headers, body);
        (status, json_of(method, path, status, &text))
    }

    /// A POST with the default token: the status, the answer's headers (names lower-case) and
    /// its JSON body.
    pub fn post_full(&self, path: &str, body: Value) -> (u16, Vec<(String, String)>, Value) {
        let authorization = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(
            authorization
                .as_deref()
                .map(|value| ("authorization", value)),
        );
        let (status, answer_headers, text) =
            self.exchange("POST", path, &headers, body.to_string().into_bytes());
        (status, answer_headers, json_of("POST", path, status, &text))
    }

    /// A GET whose answer is not JSON: the status, the `Content-Type` and the body.
    pub fn get_text(
        &self,
        token: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let authorization = token.map(|token| format!("Bearer {token}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(
            authorization
                .as_deref()
                .map(|value| ("authorization", value)),
        );
        let (status, answer_headers, text) = self.exchange("GET", path, &all, Vec::new());
        let content_type = answer_headers
            .into_iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, value)| value)
            .unwrap_or_default();
        (status, content_type, text)
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(self.token.as_deref(), method, path, body)
    }

    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bytes = body.map(|body| body.to_string().into_bytes());
        self.raw_as(token, method, path, bytes.unwrap_or_default())
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None)
    }

    /// Creates or updates an account and insists it worked.
    pub fn put_ok(&self, account_path: &str, body: Value) -> Value {
        let (status, answer) = self.put(&format!("/v1/accounts/{account_path}"), body);
        assert_eq!(status, 200, "PUT {account_path}: {answer}");
        answer
    }

    /// The status of an account, which must exist.
    pub fn status(&self, account_path: &str) -> Value {
        let (status, answer) = self.get(&format!("/v1/accounts/{account_path}"));
        assert_eq!(status, 200, "GET {account_path}: {answer}");
        answer
    }

    pub fn usage_ok(&self, account_path: &str, usage: Value) -> Value {
        let (status, answer) = self.post(
            "/v1/usage",
            json!({"account": account_path, "usage": usage}),
        );
        assert_eq!(status, 200, "usage on {account_path}: {answer}");
        answer
    }

    /// Reserves and insists on 201; answers the reservation.
    pub fn reserve_ok(&self, body: Value) -> Value {
        let (status, answer) = self.post("/v1/reservations", body);
        assert_eq!(status, 201, "reserve: {answer}");
        answer
    }

    /// Polls `account_path` until `done` holds for its status, for at most [`POLL_DEADLINE`].
    pub fn poll_status(&self, account_path: &str, done: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + POLL_DEADLINE;
        loop {
            let status = self.status(account_path);
            if done(&status) {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Asserts an error answer: the status, and the shape `{"error": {"code", "message", "field"?}}`
/// with the given code and field. Answers the `error` object for further checks.
pub fn assert_error(answer: &(u16, Value), status: u16, code: &str, field: Option<&str>) -> Value {
    let (got_status, body) = answer;
    assert_eq!(*got_status, status, "status of {body}");
    assert_error_body(body, code, field)
}

/// The JSON of an answer, or a panic that shows what came instead.
fn json_of(method: &str, path: &str, status: u16, text: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|_| panic!("{method} {path} answered {status} with non-JSON: {text}"))
}

/// Asserts the shape `{"error": {"code", "message", "field"?}}` with the given code and field.
pub fn assert_error_body(body: &Value, code: &str, field: Option<&str>) -> Value {
    let outer = body.as_object().expect("an error body is an object");
    assert_eq!(outer.len(), 1, "an error body holds only `error`: {body}");
    let error = body["error"].as_object().expect("`error` is an object");
    assert_eq!(error["code"], code, "{body}");
    let message = error["message"].as_str().expect("`message` is a string");
    assert!(!message.is_empty(), "{body}");
    match field {
        Some(field) => assert_eq!(error.get("field"), Some(&json!(field)), "{body}"),
        None => assert!(error.get("field").is_none(), "no field expected: {body}"),
    }
    for key in error.keys() {
        assert!(
            [
                "code",
                "message",
                "field",
                "account",
                "dimension",
                "requested",
                "available",
                "limit",
                "spent",
                "period",
                "resets_at",
                "retry_after_s",
                "tenant",
                "pool"
            ]
            .contains(&key.as_str()),
            "unexpected key {key} in {body}"
        );
    }
    body["error"].clone()
}

/// Asserts a budget error names the account and dimension and carries the figures.
pub fn assert_budget_error(error: &Value, account: &str, dimension: &str, requested: u64) {
    assert_eq!(error["account"], account, "{error}");
    assert_eq!(error["dimension"], dimension, "{error}");
    assert_eq!(error["requested"], requested, "{error}");
    assert!(error["available"].is_u64(), "{error}");
}

/// Asserts an RFC 3339 time in UTC.
pub fn assert_rfc3339(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is a string"));
    assert!(text.ends_with('Z'), "{text} is in UTC");
    humantime::parse_rfc3339(text).unwrap_or_else(|err| panic!("{text}: {err}"));
}
