//! A small blocking client of the Purser API, for the CLI and the demo.

use std::time::Duration;

use anyhow::{Context, anyhow};
use purser_server::wire::{ErrorBody, ErrorDetail};
use serde_json::Value;

/// An API error as the server put it, with its status.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    /// The `error` of the answer: code, message, field and the figures of budget errors.
    pub detail: ErrorDetail,
    pub body: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.detail.code, self.status, self.detail.message
        )
    }
}

impl std::error::Error for ApiFailure {}

#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    /// Sends a request; answers the JSON body of a success, or the server's error.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, ApiFailure>> {
        let (status, text) = self.send(method, path, body)?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!("the server answered {status} with a body that is not JSON: {text}")
        })?;
        if (200..300).contains(&status) {
            return Ok(Ok(value));
        }
        Ok(Err(failure(status, value)))
    }

    /// Sends a request; answers the success read as `T` (with the JSON as the server wrote
    /// it, for `--json`), or the server's error.
    pub fn call_as<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<(T, Value), ApiFailure>> {
        match self.call(method, path, body)? {
            Ok(value) => {
                let typed = serde_json::from_value(value.clone()).map_err(|err| {
                    anyhow!("the server's answer to {method} {path} is not what this client reads: {err}")
                })?;
                Ok(Ok((typed, value)))
            }
            Err(failure) => Ok(Err(failure)),
        }
    }

    /// A GET whose success is text (a Markdown or HTML report); errors are JSON as ever.
    pub fn get_text(&self, path: &str) -> anyhow::Result<Result<String, ApiFailure>> {
        let (status, text) = self.send("GET", path, None)?;
        if (200..300).contains(&status) {
            return Ok(Ok(text));
        }
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!("the server answered {status} with a body that is not JSON: {text}")
        })?;
        Ok(Err(failure(status, value)))
    }

    /// Sends a request; answers the status and the body as text.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{}", self.base, path);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let payload = body.map(|value| value.to_string()).unwrap_or_default();
        let request = request.body(payload).context("building the request")?;
        let mut response = self
            .agent
            .run(request)
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(BODY_MAX)
            .read_to_string()
            .context("reading the answer")?;
        Ok((status, text))
    }
}

/// The largest answer the client reads (a report of many children is large).
const BODY_MAX: u64 = 64 << 20;

fn failure(status: u16, value: Value) -> ApiFailure {
    let detail = serde_json::from_value::<ErrorBody>(value.clone())
        .map(|body| body.error)
        .unwrap_or_else(|_| ErrorDetail::new("unknown", value.to_string()));
    ApiFailure {
        status,
        detail,
        body: value,
    }
}
